package main

import (
	"runtime"

	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/lookup"
	"github.com/certgal/certgal/sync"
)

// lookupEntries turns what a pass published into the lookup index's entries: each user's
// desired certificates, by SHA-256, under the addresses that are that user's alone. Users
// with nothing to publish are left out, so the lookup cannot tell them from addresses nobody
// has. A pass does not keep the certificates' DER: the index builder fetches those it does not
// hold, one at a time, with fetch, which reads them from the CA store (der); one it cannot
// read is left out and logged.
func lookupEntries(pub []sync.Published, der func(*sync.Cert) ([]byte, error), log logrus.FieldLogger) ([]lookup.Entry, func(i, j int) ([]byte, error)) {
	out := make([]lookup.Entry, 0, len(pub))
	of := make([]int, 0, len(pub)) // the Published of each entry
	for k, p := range pub {
		if len(p.Addresses) == 0 || len(p.Certs) == 0 {
			continue
		}
		e := lookup.Entry{Addresses: p.Addresses, Sums: make([][32]byte, len(p.Certs))}
		for j, c := range p.Certs {
			e.Sums[j] = c.Hash
		}
		out = append(out, e)
		of = append(of, k)
	}
	fetch := func(i, j int) ([]byte, error) {
		c := pub[of[i]].Certs[j]
		v, err := der(c)
		if err != nil {
			log.WithFields(logrus.Fields{"serial": c.SerialHex, "error": err.Error()}).Warn("lookup: certificate left out")
		}
		return v, err
	}
	return out, fetch
}

// publishLookup gives the lookup service the index of a finished pass, reusing the work of
// the index it serves; a first index keeps its certificates' bytes in a file in dir (the
// cache directory; os.TempDir() when ""). Call it only for a pass that produced a plan.
func publishLookup(srv *lookup.Server, res *sync.Result, dir string, log logrus.FieldLogger) {
	if res == nil || res.Plan == nil {
		return
	}
	cur := srv.Current()
	entries, fetch := lookupEntries(res.Plan.Published, res.DER, log)
	next := cur.RebuildWith(entries, lookup.Options{Dir: dir, Fetch: fetch, Log: log})
	if next == cur {
		return // the same certificates: Rebuild gave the served index back
	}
	srv.Swap(next)
	// The collector set its heap goal while both indexes' records (and the entries) were live;
	// without a cycle now the heap grows to twice that before the next one (the daemon's peak
	// RSS with and without it: docs/BENCHMARKS.md, "Lookup memory").
	runtime.GC()
}
