package sync

import (
	"slices"

	"github.com/certgal/certgal/internal/mailaddr"
)

// fate is what the rules make of one value on a user.
type fate int

const (
	fateStays      fate = iota // kept whatever is published (foreign, broken, frozen, in grace, not yet valid)
	fateUnknown                // owned, unknown to the source: kept and reported
	fateOther                  // owned, but nothing certgal would publish for this user: kept and reported
	fateCandidate              // one of the certificates to publish
	fateRevoked                // owned and revoked: leaves, whatever it was for
	fateExpired                // owned, was this user's mail key, expired past grace: leaves
	fateSuperseded             // this user's mail key, but a newer one is published for its addresses
)

// certSet is a user's few certificates, looked up by hash: a scan of a
// handful beats a map made for each of 100k users.
type certSet []*Cert

func (s certSet) has(h [32]byte) bool {
	for _, x := range s {
		if x.Hash == h {
			return true
		}
	}
	return false
}

// view is what the per-value rules need to know of one user.
type view struct {
	own        []string // the user's addresses no other user claims, normalized
	desired    certSet  // what the user gets, newest first
	candidates certSet  // every certificate of the CA store the user could get
}

// carries reports whether one of x's addresses is a.
func carries(x *Cert, a string) bool {
	for e := range x.Emails() {
		if mailaddr.Key(e) == a {
			return true
		}
	}
	return false
}

// mine reports whether x carries one of the user's own addresses.
func (v view) mine(x *Cert) bool {
	return slices.ContainsFunc(v.own, func(a string) bool { return carries(x, a) })
}

// covered reports whether every own address x carries gets a certificate
// that is published: removing x then leaves no address without a key.
func (v view) covered(x *Cert) bool {
	for _, a := range v.own {
		if carries(x, a) && !slices.ContainsFunc(v.desired, func(d *Cert) bool { return d != x && carries(d, a) }) {
			return false
		}
	}
	return true
}

// judge applies the per-value rules to one value of a user. Only what
// certgal would itself publish for this user (a mail key of one of its
// addresses) is ever replaced or aged out; a revoked value of a trusted CA
// leaves whatever it was for, even while its issuer is frozen, as a
// revocation is never undone.
func (c *calculator) judge(x *Cert, u view) fate {
	s := c.standing(x)
	switch {
	case !s.owned:
		return fateStays
	case s.revoked:
		return fateRevoked
	case u.desired.has(x.Hash):
		return fateCandidate
	case c.in.Frozen[x.Issuer()] != "":
		return fateStays
	case u.candidates.has(x.Hash):
		return fateSuperseded
	case s.dead:
		if s.usable && u.mine(x) {
			return fateExpired
		}
		return fateOther
	case s.expired, s.early:
		return fateStays
	case !s.usable || !u.mine(x):
		return fateOther
	case !s.known:
		return fateUnknown
	}
	// Known and valid, but not a candidate: too large, say, or its other
	// addresses lead to other users.
	return fateOther
}

// planUser applies the per-entry rules to one user: which owned values leave,
// which desired certificates arrive, and what becomes of the user's
// userSMIMECertificate blobs. Values certgal does not own always stay.
// The skips it returns are reports about this user (unknown values, max_values, blobs).
func (c *calculator) planUser(u User) (EntryPlan, []Change) {
	var candidates []*Cert
	if k, ok := c.byDN.first(u.DN); ok {
		candidates = c.candidates[k]
	}
	e, skips := c.planUserWith(u, candidates)
	if c.onlyRevocations {
		e, _ = e.hold(true) // the pass is blocked: re-planned, an entry still gets revocations only
	}
	return e, skips
}

// planUserWith is planUser with the certificates matched to u's DN, newest first.
func (c *calculator) planUserWith(u User, candidates []*Cert) (EntryPlan, []Change) {
	e := EntryPlan{DN: u.DN}
	present := certSet(u.Values)
	v := view{own: c.ownAddresses(u), candidates: candidates}
	skips, usable := c.admissible(u.DN, candidates, present)
	v.desired = c.choose(usable, v.own)

	f := c.judgeValues(u, v, &e)
	v.desired = f.makeRoom(u.DN, v.desired, present, c.in.Policy.MaxValues)
	// An address is never left without its key because a newer one could
	// not be published: a superseded value leaves only when every address
	// of the user it carries keeps a certificate.
	for _, x := range f.superseded {
		if v.covered(x) {
			e.Removes = append(e.Removes, newChange(ActionRemove, u.DN, firstEmail(x), x, ReasonSuperseded))
		}
	}
	for _, x := range f.expired {
		r := newChange(ActionRemove, u.DN, firstEmail(x), x, ReasonExpired)
		r.takesKey = !v.covered(x)
		e.Removes = append(e.Removes, r)
	}
	for _, x := range v.desired {
		if !present.has(x.Hash) {
			e.Adds = append(e.Adds, newChange(ActionAdd, u.DN, firstEmail(x), x, ReasonNew))
		}
	}
	e.desired, e.own = v.desired, v.own
	skips = append(skips, f.skips...)
	skips = append(skips, c.planSMIME(u, &e, v)...)
	skips = append(skips, c.exactDeletes(u, &e)...)
	return e, skips
}

// valueFates is what judge made of a user's values.
type valueFates struct {
	staying             int // values that stay whatever is published: they take up max_values room
	superseded, expired []*Cert
	skips               []Change
}

// judgeValues judges each of u's values; revoked ones are removed from e
// right away, as nothing that is published changes that.
func (c *calculator) judgeValues(u User, v view, e *EntryPlan) valueFates {
	var f valueFates
	for _, x := range u.Values {
		switch c.judge(x, v) {
		case fateStays:
			f.staying++
		case fateCandidate:
		case fateRevoked:
			r := newChange(ActionRemove, u.DN, firstEmail(x), x, ReasonRevoked)
			r.revocation = true
			e.Removes = append(e.Removes, r)
		case fateExpired:
			f.expired = append(f.expired, x)
		case fateUnknown:
			f.staying++
			f.skips = append(f.skips, newChange(ActionSkip, u.DN, firstEmail(x), x, ReasonUnknownOwned))
		case fateOther:
			f.staying++
			f.skips = append(f.skips, newChange(ActionSkip, u.DN, firstEmail(x), x, ReasonNotPublishable))
		case fateSuperseded:
			f.superseded = append(f.superseded, x)
		}
	}
	return f
}

// makeRoom cuts desired to what policy.max_values leaves room for beside
// the values that stay: an older certificate the entry holds then counts
// as superseded, one it does not is skipped.
func (f *valueFates) makeRoom(dn string, desired []*Cert, present certSet, maxValues int) []*Cert {
	room := max(maxValues-f.staying, 0)
	if len(desired) <= room {
		return desired
	}
	for _, x := range desired[room:] {
		if present.has(x.Hash) {
			f.superseded = append(f.superseded, x)
		} else {
			f.skips = append(f.skips, newChange(ActionSkip, dn, firstEmail(x), x, ReasonMaxValues))
		}
	}
	return desired[:room]
}

// admissible returns the candidates the entry may take, and skips the
// others, before anything is planned on them: one it does not hold yet is
// left out while its issuer is frozen (the newest may be revoked by a CRL
// certgal cannot see; what the entry holds stays), or when the directory
// would refuse it as the twin of a value the entry holds (unaddable).
func (c *calculator) admissible(dn string, candidates []*Cert, present certSet) ([]Change, []*Cert) {
	if len(c.in.Frozen) == 0 && !c.in.Policy.CertMatchByIssuerSerial {
		return nil, candidates
	}
	var skips []Change
	usable := make([]*Cert, 0, len(candidates))
	for _, x := range candidates {
		reason := ""
		switch {
		case present.has(x.Hash):
		case c.in.Frozen[x.Issuer()] != "":
			reason = ReasonFrozen
		case c.unaddable(x, present):
			reason = ReasonSameIssuerSerial
		}
		if reason != "" {
			skips = append(skips, newChange(ActionSkip, dn, firstEmail(x), x, reason))
			continue
		}
		usable = append(usable, x)
	}
	return skips, usable
}

// choose picks what a user gets from its candidates, newest first: all of
// them with policy.keep all, else the newest for each of its addresses. An
// address's key is the newest certificate carrying that address, so a user
// with two addresses and a certificate for each keeps both.
func (c *calculator) choose(candidates []*Cert, own []string) []*Cert {
	if c.in.Policy.KeepAll || len(candidates) <= 1 {
		return candidates
	}
	var out []*Cert
	taken := make([]bool, len(own))
	for _, x := range candidates {
		newest := false
		for i, a := range own {
			if !taken[i] && carries(x, a) {
				taken[i], newest = true, true
			}
		}
		if newest {
			out = append(out, x)
		}
	}
	return out
}

// appendPublished appends what the lookup serves of a user: for each of its
// own addresses the desired certificates carrying it, newest first;
// addresses with the same certificates share one entry.
func appendPublished(out []Published, e *EntryPlan) []Published {
	switch {
	case len(e.desired) == 0:
		return out
	case len(e.own) == 1:
		// Every desired certificate carries the user's one address (choose).
		return append(out, Published{Addresses: e.own, Certs: e.desired})
	}
	first := len(out)
	for _, a := range e.own {
		var certs []*Cert
		for _, x := range e.desired {
			if carries(x, a) {
				certs = append(certs, x)
			}
		}
		if len(certs) == 0 {
			continue
		}
		if i := slices.IndexFunc(out[first:], func(p Published) bool { return slices.Equal(p.Certs, certs) }); i >= 0 {
			out[first+i].Addresses = append(out[first+i].Addresses, a)
			continue
		}
		out = append(out, Published{Addresses: []string{a}, Certs: certs})
	}
	return out
}
