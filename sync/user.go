package sync

import "github.com/certgal/certgal/certsource"

// fate is what the rules make of one owned or foreign value on a user.
type fate int

const (
	fateStays      fate = iota // kept whatever is published (foreign, broken, frozen, in grace, not yet valid)
	fateUnknown                // owned, unknown to the source: kept and reported
	fateCandidate              // one of the certificates to publish
	fateRevoked                // owned and revoked: leaves
	fateExpired                // owned and expired past grace: leaves
	fateSuperseded             // owned and valid, but not what is published: leaves once a desired one stays
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

// judge applies the per-value rules to v. isCandidate holds the certificates
// the user should get, before max_values.
func (c *calculator) judge(v *Cert, isCandidate certSet) fate {
	pol, now := c.in.Policy, c.in.Now
	switch {
	case v.Broken || !v.Owned() || c.in.Frozen[v.Issuer] != "":
		return fateStays
	case isCandidate.has(v.Hash):
		return fateCandidate
	}
	st, known := c.known.get(v)
	switch {
	case c.in.Revoked[v.Issuer][v.SerialHex] || known && st == certsource.StatusRevoked: // c.revoked(v)
		return fateRevoked
	case now.After(v.NotAfter.Add(pol.ExpiredGrace)):
		return fateExpired
	case now.After(v.NotAfter):
		return fateStays
	case !known:
		return fateUnknown
	case now.Before(v.NotBefore):
		return fateStays
	}
	return fateSuperseded
}

// planUser applies the per-entry rules to one user: which owned values leave,
// which desired certificates arrive, and what becomes of the user's
// userSMIMECertificate blobs. Values certgal does not own always stay.
// The skips it returns are reports about this user (unknown values, max_values, blobs).
func (c *calculator) planUser(u User) (EntryPlan, []Change) {
	var candidates []*Cert
	if k, ok := c.byDN[u.DN]; ok {
		candidates = c.candidates[k]
	}
	return c.planUserWith(u, candidates)
}

// planUserWith is planUser with the certificates matched to u's DN, newest first.
func (c *calculator) planUserWith(u User, candidates []*Cert) (EntryPlan, []Change) {
	e := EntryPlan{DN: u.DN}
	var skips []Change
	pol := c.in.Policy

	desired := candidates
	if !pol.KeepAll && len(desired) > 1 {
		desired = desired[:1]
	}
	// While an issuer is frozen its certificates wait: the newest may be
	// revoked by a CRL certgal cannot see.
	if reason := c.frozen(desired); reason != "" {
		for _, x := range desired {
			skips = append(skips, newChange(ActionSkip, u.DN, firstEmail(x), x, ReasonFrozen))
		}
		desired = nil
	}
	isCandidate := certSet(desired)
	present := certSet(u.Values)
	staying := 0 // values that stay whatever is published: they take up max_values room
	var superseded []*Cert
	for _, v := range u.Values {
		switch c.judge(v, isCandidate) {
		case fateStays:
			staying++
		case fateCandidate:
		case fateRevoked:
			e.Removes = append(e.Removes, newChange(ActionRemove, u.DN, firstEmail(v), v, ReasonRevoked))
		case fateExpired:
			e.Removes = append(e.Removes, newChange(ActionRemove, u.DN, firstEmail(v), v, ReasonExpired))
		case fateUnknown:
			staying++
			skips = append(skips, newChange(ActionSkip, u.DN, firstEmail(v), v, ReasonUnknownOwned))
		case fateSuperseded:
			superseded = append(superseded, v)
		}
	}

	if room := max(pol.MaxValues-staying, 0); len(desired) > room {
		for _, x := range desired[room:] {
			if present.has(x.Hash) {
				superseded = append(superseded, x)
			} else {
				skips = append(skips, newChange(ActionSkip, u.DN, firstEmail(x), x, ReasonMaxValues))
			}
		}
		desired = desired[:room]
	}
	// A user is never left without a certificate because a newer one could not
	// be published: superseded values leave only when a desired one stays.
	if len(desired) > 0 {
		for _, v := range superseded {
			e.Removes = append(e.Removes, newChange(ActionRemove, u.DN, firstEmail(v), v, ReasonSuperseded))
		}
	}
	for _, x := range desired {
		if !present.has(x.Hash) {
			e.Adds = append(e.Adds, newChange(ActionAdd, u.DN, firstEmail(x), x, ReasonNew))
		}
	}
	e.desired = desired
	skips = append(skips, c.planSMIME(u, &e, isCandidate)...)
	return e, skips
}

// frozen returns the reason any of certs' issuers is frozen, or "".
func (c *calculator) frozen(certs []*Cert) string {
	for _, x := range certs {
		if r := c.in.Frozen[x.Issuer]; r != "" {
			return r
		}
	}
	return ""
}
