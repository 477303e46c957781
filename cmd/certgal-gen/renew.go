package main

import (
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// drawRenewals picks pct per cent of the users (exactly n*pct/100 of them, the
// same ones for the same seed) and gives each a renewal: a new certificate of
// our CA for the address of its current one, with a new key and a later
// notBefore (within the day before now), serials continuing after the last of
// p.ours in issue order, as `openssl ca` would hand them out.
func (p *population) drawRenewals(pct int, now time.Time, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x72656e6577))
	k := len(p.users) * pct / 100
	for _, i := range rng.Perm(len(p.users))[:k] {
		u := &p.users[i]
		nb := now.Add(-time.Duration(3600+rng.IntN(23*3600)) * time.Second)
		u.renewal = &certSpec{role: roleCurrent, issuer: issuerOurs, user: i, email: u.current.email, cn: u.uid,
			notBefore: nb, notAfter: nb.Add(730 * day), indexStatus: 'V'}
		p.renewals = append(p.renewals, u.renewal)
	}
	sort.SliceStable(p.renewals, func(i, j int) bool { return p.renewals[i].notBefore.Before(p.renewals[j].notBefore) })
	next := p.ours[len(p.ours)-1].serial
	for _, c := range p.renewals {
		next = new(big.Int).Add(next, big.NewInt(1))
		c.serial = next
	}
}

// writeRenewed writes the CA store's later state into out/renewed: newcerts/ holds only the
// renewals' files, index.txt and serial are the whole store's after them (every earlier line,
// then the renewals'). Applied as `openssl ca` changes a store (the new files first, then
// index.txt replaced), it is the store after the renewals. changes.ldif (and changes-ad.ldif
// with -ad-base) are the pass from state current that follows.
func writeRenewed(o options, p *population, cas *authorities) error {
	dir := filepath.Join(o.out, "renewed")
	if err := os.MkdirAll(filepath.Join(dir, "newcerts"), 0o755); err != nil {
		return err
	}
	if err := issueAll(p.renewals, cas, dir, o.workers); err != nil {
		return err
	}
	return writeIndex(dir, append(append([]*certSpec(nil), p.ours...), p.renewals...))
}

// writeRenewalChanges writes the change LDIFs of the pass after the renewals and returns what
// summary.json says of it.
func writeRenewalChanges(o options, p *population) (*renewalN, error) {
	n := &renewalN{Renewed: len(p.renewals)}
	for _, fl := range flavours(o) {
		name := "changes.ldif"
		if fl.name == "ad" {
			name = "changes-ad.ldif"
		}
		var err error
		if n.Entries, n.Adds, n.Removes, err = writeChanges(filepath.Join(o.out, "renewed", name), fl, p, stateRenewed); err != nil {
			return nil, err
		}
	}
	n.PublishedDERBytes = publishedBytes(p, stateRenewed)
	return n, nil
}

// renewalN describes the renewals and the pass after them.
type renewalN struct {
	Renewed           int `json:"renewed_users"`
	Entries           int `json:"entries_to_modify"`
	Adds              int `json:"adds"`
	Removes           int `json:"removes"`
	PublishedDERBytes int `json:"published_der_bytes"` // the certificates certgal publishes after the pass
}

// publishedBytes is the DER size of what certgal publishes (one certificate a user) in state
// st: what the lookup serves, and the DER of the memory budget (docs/BENCHMARKS.md).
func publishedBytes(p *population, st state) int {
	n := 0
	for i := range p.users {
		c := p.users[i].current
		if st == stateRenewed && p.users[i].renewal != nil {
			c = p.users[i].renewal
		}
		n += len(c.der)
	}
	return n
}
