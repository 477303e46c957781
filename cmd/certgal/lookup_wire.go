package main

import (
	"runtime"

	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/lookup"
	"github.com/certgal/certgal/sync"
)

// lookupEntries turns what a pass published into the lookup index's entries: each user's
// desired certificates under the addresses that are that user's alone. Users with nothing
// to publish are left out, so the lookup cannot tell them from addresses nobody has. A pass
// does not keep the certificates' DER: held (the index being served) has most of them, der
// reads the others from the CA store; one it cannot read is left out and logged.
func lookupEntries(pub []sync.Published, held *lookup.Index, der func(*sync.Cert) ([]byte, error), log logrus.FieldLogger) []lookup.Entry {
	out := make([]lookup.Entry, 0, len(pub))
	for _, p := range pub {
		if len(p.Addresses) == 0 {
			continue
		}
		e := lookup.Entry{Addresses: p.Addresses}
		for _, c := range p.Certs {
			v := held.DER(c.Hash)
			if v == nil {
				var err error
				if v, err = der(c); err != nil {
					log.WithFields(logrus.Fields{"serial": c.SerialHex, "error": err.Error()}).Warn("lookup: certificate left out")
					continue
				}
			}
			e.DER = append(e.DER, v)
		}
		if len(e.DER) > 0 {
			out = append(out, e)
		}
	}
	return out
}

// publishLookup gives the lookup service the index of a finished pass, reusing the work of
// the index it serves. Call it only for a pass that produced a plan.
func publishLookup(srv *lookup.Server, res *sync.Result, log logrus.FieldLogger) {
	if res == nil || res.Plan == nil {
		return
	}
	cur := srv.Current()
	next := cur.Rebuild(lookupEntries(res.Plan.Published, cur, res.DER, log))
	if next == cur {
		return // the same certificates: Rebuild gave the served index back
	}
	srv.Swap(next)
	// The collector set its heap goal while both indexes (and the entries) were live; without
	// a cycle now the heap grows to twice that before the next one (the daemon's peak RSS with
	// and without it: docs/BENCHMARKS.md, "Lookup memory").
	runtime.GC()
}
