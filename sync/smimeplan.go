package sync

import "slices"

// planSMIME decides what becomes of u's userSMIMECertificate blobs and writes
// it into e, next to the userCertificate changes, so one modify carries both.
// e.desired must be final. It is part of Calculate: a pure function of its input.
//
// A blob is stale when every certificate in it is certgal's and each of them
// would leave userCertificate too (revoked, expired past grace, or superseded
// by a certificate that is published), and dead when each is revoked or
// expired past grace: a dead blob leaves under every policy, as Outlook
// prefers the blob to userCertificate. Blobs certgal does not own, and broken
// ones, are never deleted. Where the directory can only replace the attribute
// whole (OpenLDAP), certgal writes it only when every blob in it is certgal's.
func (c *calculator) planSMIME(u User, e *EntryPlan, v view) []Change {
	p := smimePlan{c: c, u: u, desired: e.desired, whole: c.in.Policy.SMIMEWholeAttribute}
	p.sortBlobs(v)
	mode := c.in.Policy.SMIME
	if mode == SMIMEManage && len(p.desired) == 0 {
		// Nothing to publish: certgal's blobs leave when stale, as with remove-stale.
		mode = SMIMERemoveStale
	}
	switch mode {
	case SMIMERemoveStale:
		p.drop(p.stale)
	case SMIMEManage:
		p.manage()
	default:
		// report: a dead blob still leaves, the others stay and are reported.
		p.drop(p.dead) // reports them when it cannot remove them
		p.report(slices.DeleteFunc(p.stale, func(b *Blob) bool { return slices.Contains(p.dead, b) }))
	}
	e.SMIMERemoves, e.SMIMEAdds, e.SMIMEReplace = p.removes, p.adds, p.replace
	return p.skips
}

// smimePlan is planSMIME's work on one user: what it reads, and the lines
// it plans.
type smimePlan struct {
	c       *calculator
	u       User
	desired []*Cert // what the user gets
	whole   bool    // the directory replaces or deletes the attribute whole only

	skips, removes, adds []Change
	replace              bool // see EntryPlan.SMIMEReplace

	stale, dead, owned, others []*Blob
}

// sortBlobs sorts the user's blobs: certgal's (owned, and which of them are
// stale or dead) and the others (foreign or broken; broken ones are reported).
func (p *smimePlan) sortBlobs(v view) {
	for _, b := range p.u.SMIME {
		switch {
		case b.Broken:
			p.skips = append(p.skips, newBlobChange(ActionSkip, p.u.DN, b, ReasonBrokenSMIME))
			p.others = append(p.others, b)
		case !b.owned():
			p.others = append(p.others, b)
		default:
			p.owned = append(p.owned, b)
			stale, dead := p.c.blobState(b, v)
			if stale {
				p.stale = append(p.stale, b)
			}
			if dead {
				p.dead = append(p.dead, b)
			}
		}
	}
}

// manage keeps one blob of exactly the desired certificates, certgal's other
// blobs replaced by it.
func (p *smimePlan) manage() {
	exact := slices.IndexFunc(p.owned, func(b *Blob) bool { return b.holdsExactly(p.desired) })
	switch {
	case exact >= 0 && p.whole:
		// Published already. Dropping certgal's other blobs would mean
		// rewriting the attribute; only a lone exact blob is left alone.
		if len(p.others) > 0 || len(p.u.SMIME) == 1 {
			p.report(p.stale)
			return
		}
	case exact >= 0:
		for i, b := range p.owned {
			if i != exact {
				p.remove(b, p.replacedOrStale(b))
			}
		}
		return
	case p.whole && len(p.others) > 0:
		p.report(p.stale)
		p.skips = append(p.skips, newBlobChange(ActionSkip, p.u.DN, plannedBlob(p.desired), ReasonForeignSMIME))
		return
	}
	nb := plannedBlob(p.desired)
	if limit := p.c.in.Policy.MaxValueBytes; limit > 0 && smimeSize(p.desired) > limit {
		p.skips = append(p.skips, newBlobChange(ActionSkip, p.u.DN, nb, ReasonTooLarge))
		// No managed blob: certgal's blobs leave only when stale.
		p.drop(p.stale)
		return
	}
	p.replace = p.whole
	for _, b := range p.owned {
		p.remove(b, p.replacedOrStale(b))
	}
	p.adds = append(p.adds, newBlobChange(ActionAdd, p.u.DN, nb, ReasonManagedSMIME))
}

// report says that blobs stay although stale.
func (p *smimePlan) report(blobs []*Blob) {
	for _, b := range blobs {
		p.skips = append(p.skips, newBlobChange(ActionSkip, p.u.DN, b, ReasonStaleSMIME))
	}
}

// remove plans the removal of an owned blob. Ownership decides; it is
// checked again right before writing.
func (p *smimePlan) remove(b *Blob, reason string) {
	r := newBlobChange(ActionRemove, p.u.DN, b, reason)
	r.revocation = p.c.allRevoked(b)
	r.takesKey = !r.revocation && len(p.desired) == 0
	p.removes = append(p.removes, r)
}

// drop removes blobs as stale, unless that would take others with them.
func (p *smimePlan) drop(blobs []*Blob) {
	switch {
	case len(blobs) == 0:
	case p.whole && len(blobs) < len(p.u.SMIME):
		p.report(blobs) // deleting the attribute would take other blobs with it
	default:
		p.replace = p.whole
		for _, b := range blobs {
			p.remove(b, ReasonStaleSMIME)
		}
	}
}

func (p *smimePlan) replacedOrStale(b *Blob) string {
	if slices.Contains(p.stale, b) {
		return ReasonStaleSMIME
	}
	return ReasonReplacedSMIME
}

// blobState says whether every key in the owned blob b would leave
// userCertificate (stale: revoked, expired past grace, or valid but replaced
// for all its addresses by what is published), and whether every key is
// revoked or expired past grace (dead).
func (c *calculator) blobState(b *Blob, v view) (stale, dead bool) {
	dead = true
	for _, x := range b.Leaves {
		switch c.judge(x, v) {
		case fateRevoked, fateExpired:
		case fateSuperseded:
			if !v.covered(x) {
				return false, false
			}
			dead = false
		default:
			return false, false
		}
	}
	return true, dead
}

// allRevoked reports whether every key in b is revoked.
func (c *calculator) allRevoked(b *Blob) bool {
	for _, x := range b.Leaves {
		if !c.standing(x).revoked {
			return false
		}
	}
	return len(b.Leaves) > 0
}
