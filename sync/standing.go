package sync

import "github.com/certgal/certgal/certsource"

// standing is what the rules know of a certificate on its own, whoever holds
// it: whose it is, whether it can carry encrypted mail, whether it is revoked,
// and where now falls in its validity. Every rule that judges a certificate
// (eligible, judge, the CA store's counts) reads it from standing alone.
type standing struct {
	owned   bool // a trusted CA issued it: certgal's (a broken value never is)
	usable  bool // a key senders can encrypt mail to
	known   bool // the CA store holds it
	revoked bool // by a verified CRL, or by the CA store
	early   bool // now is before notBefore
	expired bool // now is after notAfter
	dead    bool // now is after notAfter and policy.expired_grace
}

// current reports whether the certificate is neither revoked nor outside its validity.
func (s standing) current() bool { return !s.revoked && !s.early && !s.expired }

// standing judges x by the CA store's verdicts, the CRLs and the policy.
func (c *calculator) standing(x *Cert) standing {
	st, known := c.known.get(x)
	now := c.in.Now
	return standing{
		owned:   x.Owned(),
		usable:  x.unusable == 0,
		known:   known,
		revoked: c.in.Revoked[x.Issuer()][x.SerialHex()] || (known && st == certsource.StatusRevoked),
		early:   now.Before(x.NotBefore()),
		expired: now.After(x.NotAfter()),
		dead:    now.After(x.NotAfter().Add(c.in.Policy.ExpiredGrace)),
	}
}

// sourceStates counts the CA store's certificates by their state, for
// certgal_source_certificates.
func (c *calculator) sourceStates() map[string]int {
	counts := map[string]int{"valid": 0, "revoked": 0, "expired": 0, "not_yet_valid": 0, "untrusted": 0, "unusable": 0}
	for _, k := range c.in.Known {
		s := c.standing(k.Cert)
		switch {
		case !s.owned:
			counts["untrusted"]++
		case !s.usable:
			counts["unusable"]++
		case s.revoked || k.Status == certsource.StatusRevoked:
			counts["revoked"]++
		case s.expired || k.Status == certsource.StatusExpired:
			counts["expired"]++
		case s.early:
			counts["not_yet_valid"]++
		default:
			counts["valid"]++
		}
	}
	return counts
}
