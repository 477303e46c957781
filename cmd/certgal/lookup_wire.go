package main

import (
	"github.com/certgal/certgal/lookup"
	"github.com/certgal/certgal/sync"
)

// lookupEntries turns what a pass published into the lookup index's entries: each user's
// desired certificates under the addresses that are that user's alone. Users with nothing
// to publish are left out, so the lookup cannot tell them from addresses nobody has.
func lookupEntries(pub []sync.Published) []lookup.Entry {
	out := make([]lookup.Entry, 0, len(pub))
	for _, p := range pub {
		e := lookup.Entry{Addresses: p.Addresses}
		for _, c := range p.Certs {
			if len(c.DER) > 0 {
				e.DER = append(e.DER, c.DER)
			}
		}
		if len(e.DER) > 0 && len(e.Addresses) > 0 {
			out = append(out, e)
		}
	}
	return out
}

// publishLookup gives the lookup service the index of a finished pass, reusing the work of
// the index it serves. Call it only for a pass that produced a plan.
func publishLookup(srv *lookup.Server, res *sync.Result) {
	if res == nil || res.Plan == nil {
		return
	}
	srv.Swap(srv.Current().Rebuild(lookupEntries(res.Plan.Published)))
}
