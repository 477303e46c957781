package main

import (
	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/lookup"
	"github.com/certgal/certgal/sync"
)

// publishedEntries is what a pass published as the lookup index's entries, read in place:
// each user's desired certificates, by SHA-256, under the addresses that are that user's
// alone. Users with nothing to publish are left out, so the lookup cannot tell them from
// addresses nobody has. A pass does not keep the certificates' DER: the index builder asks
// for those it does not hold, one at a time, and they are read from the CA store (der); one
// that cannot be read is left out and logged.
type publishedEntries struct {
	pub []sync.Published
	of  []int32 // the Published of each entry
	der func(*sync.Cert) ([]byte, error)
	log logrus.FieldLogger
}

func lookupEntries(pub []sync.Published, der func(*sync.Cert) ([]byte, error), log logrus.FieldLogger) *publishedEntries {
	n := 0
	for _, p := range pub {
		if len(p.Addresses) > 0 && len(p.Certs) > 0 {
			n++
		}
	}
	of := make([]int32, 0, n)
	for k, p := range pub {
		if len(p.Addresses) > 0 && len(p.Certs) > 0 {
			of = append(of, int32(k))
		}
	}
	return &publishedEntries{pub: pub, of: of, der: der, log: log}
}

func (e *publishedEntries) Len() int                 { return len(e.of) }
func (e *publishedEntries) Addresses(i int) []string { return e.pub[e.of[i]].Addresses }
func (e *publishedEntries) NumCerts(i int) int       { return len(e.pub[e.of[i]].Certs) }
func (e *publishedEntries) Sum(i, j int) [32]byte    { return e.pub[e.of[i]].Certs[j].Hash }

func (e *publishedEntries) DER(i, j int) ([]byte, error) {
	c := e.pub[e.of[i]].Certs[j]
	v, err := e.der(c)
	if err != nil {
		e.log.WithFields(logrus.Fields{"serial": c.SerialHex(), "error": err.Error()}).Warn("lookup: certificate left out")
	}
	return v, err
}

// publishLookup gives the lookup service the index of a finished pass, reusing the work of
// the index it serves; a first index keeps its certificates' bytes in a file in dir (the
// cache directory; os.TempDir() when ""). Call it only for a pass that produced a plan.
func publishLookup(srv *lookup.Server, res *sync.Result, dir string, log logrus.FieldLogger) {
	if res == nil || res.Plan == nil {
		return
	}
	cur := srv.Current()
	// Parsed: the pass published only certificates its classifier parsed with crypto/x509,
	// and the index checks that what it reads is what the pass published (their SHA-256).
	opt := lookup.Options{Dir: dir, Parsed: true, Log: log}
	next := cur.RebuildFrom(lookupEntries(res.Plan.Published, res.DER, log), opt)
	if next == cur {
		return // the same certificates: Rebuild gave the served index back
	}
	srv.Swap(next) // the daemon collects once the pass is done (daemon.pass)
}
