package main

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"sort"
	"strings"
	"time"
)

// issuerKind says who signed a generated certificate.
type issuerKind int

const (
	issuerOurs      issuerKind = iota // the generated CA: certgal's (trust.ca_files)
	issuerForeign                     // a partner CA certgal does not trust
	issuerLookalike                   // a CA with our CA's subject DN but another key
	issuerSelf                        // self-signed, as published by a mail client
)

// role is what a certificate is for in the generated world.
type role int

const (
	roleCurrent    role = iota // the user's newest valid certificate: what certgal publishes
	roleSuperseded             // an older, still valid certificate of a renewed user
	roleRevoked                // an older certificate, revoked (index R line and CRL)
	roleExpired                // an older certificate, expired long past any grace
	roleOrphan                 // valid, but for an address no user has (a departed user)
	roleUnusable               // valid, EKU serverAuth only: never published
	roleForeign                // a directory value from a CA certgal does not trust
)

// certSpec is one certificate to issue.
type certSpec struct {
	role      role
	issuer    issuerKind
	user      int // index into population.users; -1 for an orphan
	email     string
	cn        string
	notBefore time.Time
	notAfter  time.Time
	revokedAt time.Time // roleRevoked
	// indexStatus is the index.txt status letter for our CA's certificates.
	indexStatus byte
	serial      *big.Int
	der         []byte
}

// user is one directory entry.
type user struct {
	uid   string
	mails []string // mails[0] is the primary address
	// current is the certificate certgal should publish; history are the
	// user's older certificates from our CA (superseded, revoked, expired).
	current *certSpec
	history []*certSpec
	// renewal is what replaces current in the CA store's later state (-renew), or nil.
	renewal *certSpec
	// foreign are values certgal does not own: a partner CA's, a look-alike
	// CA's, self-published ones. They are in the directory in every state.
	foreign []*certSpec
}

// mix is the share of users (per mille) with each trait; traits are drawn
// independently, so a user may be renewed and revoked.
type mix struct {
	renewed, revoked, expired           int // our CA's history
	foreign, lookalike, self            int // values certgal never owns
	alias, mixedCase, orphans, unusable int
}

var defaultMix = mix{
	renewed: 100, revoked: 50, expired: 50,
	foreign: 100, lookalike: 10, self: 50,
	alias: 50, mixedCase: 20, orphans: 5, unusable: 1,
}

// population is the generated world before signing.
type population struct {
	users []user
	// ours are every certificate of our CA, in index.txt order (by notBefore).
	ours []*certSpec
	// others are the foreign, look-alike and self-signed values.
	others []*certSpec
	// renewals are the certificates of the CA store's later state (-renew), in issue order.
	renewals []*certSpec
}

const day = 24 * time.Hour

// newPopulation draws n users and their certificates around now. The same
// seed gives the same world (serials and signatures aside, which are random).
func newPopulation(n int, domain string, now time.Time, seed uint64, m mix) *population {
	rng := rand.New(rand.NewPCG(seed, 0x63657274))
	chance := func(perMille int) bool { return rng.IntN(1000) < perMille }
	days := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo+1)) * day }
	width := max(6, len(fmt.Sprint(n)))
	p := &population{users: make([]user, n)}
	spec := func(r role, iss issuerKind, u int, email, cn string, nb time.Time, validity time.Duration) *certSpec {
		return &certSpec{role: r, issuer: iss, user: u, email: email, cn: cn, notBefore: nb, notAfter: nb.Add(validity), indexStatus: 'V'}
	}
	for i := range p.users {
		u := &p.users[i]
		u.uid = fmt.Sprintf("user%0*d", width, i+1)
		u.mails = []string{u.uid + "@" + domain}
		if chance(m.alias) {
			u.mails = append(u.mails, fmt.Sprintf("u%0*d@mail.%s", width, i+1, domain))
		}
		san := u.mails[0]
		if chance(m.mixedCase) {
			// AD and Exchange compare ASCII letters case-insensitively; so does certgal.
			san = strings.ToUpper(san[:1]) + san[1:strings.IndexByte(san, '@')+1] + strings.ToUpper(domain[:1]) + domain[1:]
		}
		cur := spec(roleCurrent, issuerOurs, i, san, u.uid, now.Add(-days(1, 180)), 730*day)
		u.current = cur
		p.ours = append(p.ours, cur)
		if chance(m.renewed) {
			s := spec(roleSuperseded, issuerOurs, i, san, u.uid, cur.notBefore.Add(-days(30, 300)), 730*day)
			u.history = append(u.history, s)
		}
		if chance(m.revoked) {
			r := spec(roleRevoked, issuerOurs, i, san, u.uid, cur.notBefore.Add(-days(1, 60)), 730*day)
			r.indexStatus = 'R'
			r.revokedAt = r.notBefore.Add(cur.notBefore.Sub(r.notBefore) / 2).Truncate(time.Second)
			u.history = append(u.history, r)
		}
		if chance(m.expired) {
			e := spec(roleExpired, issuerOurs, i, san, u.uid, now.Add(-days(800, 1200)), 730*day)
			if chance(500) {
				e.indexStatus = 'E' // openssl ca -updatedb was run; otherwise still V
			}
			u.history = append(u.history, e)
		}
		p.ours = append(p.ours, u.history...)
		if chance(m.unusable) {
			p.ours = append(p.ours, spec(roleUnusable, issuerOurs, i, san, u.uid, now.Add(-days(1, 100)), 365*day))
		}
		for _, t := range []struct {
			perMille int
			iss      issuerKind
		}{{m.foreign, issuerForeign}, {m.lookalike, issuerLookalike}, {m.self, issuerSelf}} {
			if chance(t.perMille) {
				f := spec(roleForeign, t.iss, i, u.mails[0], u.uid, now.Add(-days(1, 300)), 365*day)
				u.foreign = append(u.foreign, f)
				p.others = append(p.others, f)
			}
		}
	}
	orphans := n * m.orphans / 1000
	for i := range orphans {
		uid := fmt.Sprintf("gone%0*d", width, i+1)
		p.ours = append(p.ours, spec(roleOrphan, issuerOurs, -1, uid+"@"+domain, uid, now.Add(-days(1, 300)), 730*day))
	}
	// Serials in issue order, as `openssl ca` hands them out.
	sort.SliceStable(p.ours, func(i, j int) bool { return p.ours[i].notBefore.Before(p.ours[j].notBefore) })
	for i, c := range p.ours {
		c.serial = big.NewInt(int64(0x10000000 + i))
	}
	for i, c := range p.others {
		c.serial = new(big.Int).SetUint64(rng.Uint64()>>2 | 1<<60)
		_ = i
	}
	return p
}

// state is what the directory holds before the pass being measured.
type state string

const (
	stateNone     state = "none"     // no value of our CA yet: the initial publish
	statePrevious state = "previous" // what the last pass left before recent renewals, revocations, expiries
	stateCurrent  state = "current"  // converged: a pass has nothing to change
	// stateRenewed is state current after the renewals of -renew reached the CA store; its
	// directory is never written (the script applies the renewals to a converged directory).
	stateRenewed state = "renewed"
)

func parseStates(s string) ([]state, error) {
	var out []state
	for _, f := range strings.Split(s, ",") {
		switch st := state(strings.TrimSpace(f)); st {
		case stateNone, statePrevious, stateCurrent:
			out = append(out, st)
		default:
			return nil, fmt.Errorf("-published: %q is not none, previous or current", f)
		}
	}
	return out, nil
}

// values returns what u holds in userCertificate in state st.
func (u *user) values(st state) []*certSpec {
	var out []*certSpec
	switch {
	case st == stateCurrent, st == statePrevious && len(u.history) == 0:
		out = append(out, u.current)
	case st == statePrevious:
		out = append(out, u.history...)
	}
	return append(out, u.foreign...)
}

// changes returns what a pass must do to u in state st: the values certgal
// removes and adds (the rules of sync.Calculate, for this generated world).
func (u *user) changes(st state) (removes, adds []*certSpec) {
	switch {
	case st == stateNone:
		return nil, []*certSpec{u.current}
	case st == statePrevious && len(u.history) > 0:
		return u.history, []*certSpec{u.current}
	case st == stateRenewed && u.renewal != nil:
		return []*certSpec{u.current}, []*certSpec{u.renewal}
	}
	return nil, nil
}
