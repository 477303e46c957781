package sync

import (
	"encoding/hex"
	"fmt"
	"slices"
)

// EntryPlan is the one modify a changed entry gets.
type EntryPlan struct {
	DN      string
	Adds    []Change
	Removes []Change
	// SMIMEAdds and SMIMERemoves are userSMIMECertificate blobs, written in
	// the same modify as the certificates.
	SMIMEAdds    []Change
	SMIMERemoves []Change
	// SMIMEReplace writes userSMIMECertificate whole: its values become
	// SMIMEAdds' blobs (none: the attribute goes). SMIMERemoves then lists
	// every blob the entry held, each one certgal's.
	SMIMEReplace bool
	// CSN is the entry's CSN as read when planned (User.CSN).
	CSN string

	desired []*Cert
	own     []string // the user's own addresses, normalized
}

func (e EntryPlan) empty() bool {
	return len(e.Adds)+len(e.Removes)+len(e.SMIMEAdds)+len(e.SMIMERemoves) == 0
}

func (e EntryPlan) removals() int { return len(e.Removes) + len(e.SMIMERemoves) }

// keysTaken counts the removals policy.max_deletes counts: those that leave
// an address without a key. A renewal's and a revocation's do not count.
func (e EntryPlan) keysTaken() int {
	n := 0
	for _, l := range [][]Change{e.Removes, e.SMIMERemoves} {
		for _, c := range l {
			if c.takesKey {
				n++
			}
		}
	}
	return n
}

// hold splits e for a blocked pass: what is still written (revocations,
// when allowed) and the changes held back.
func (e EntryPlan) hold(revocations bool) (EntryPlan, []Change) {
	w := EntryPlan{DN: e.DN, CSN: e.CSN, desired: e.desired, own: e.own}
	var held []Change
	split := func(removes []Change) (written []Change) {
		for _, c := range removes {
			if revocations && c.revocation {
				written = append(written, c)
			} else {
				held = append(held, c)
			}
		}
		return written
	}
	w.Removes = split(e.Removes)
	held = append(held, e.Adds...)
	switch {
	case !e.SMIMEReplace:
		w.SMIMERemoves = split(e.SMIMERemoves)
		held = append(held, e.SMIMEAdds...)
	case revocations && len(e.SMIMEAdds) == 0 && !slices.ContainsFunc(e.SMIMERemoves, func(c Change) bool { return !c.revocation }):
		// The attribute goes whole, and all it held is revoked.
		w.SMIMEReplace, w.SMIMERemoves = true, e.SMIMERemoves
	default:
		held = append(append(held, e.SMIMERemoves...), e.SMIMEAdds...)
	}
	for i := range held {
		held[i].Held = true
	}
	return w, held
}

// encodeBlobs writes the DER of the blobs planned for e (see plannedBlob).
func (e EntryPlan) encodeBlobs(der func(*Cert) ([]byte, error)) error {
	for i := range e.SMIMEAdds {
		if err := e.SMIMEAdds[i].encodeBlob(der); err != nil {
			return err
		}
	}
	return nil
}

// encodeBlob writes the DER of the planned blob of a line about one, and
// the line's SHA-256 with it.
func (c *Change) encodeBlob(der func(*Cert) ([]byte, error)) error {
	if c.blob == nil || c.SHA256 != "" {
		return nil
	}
	if err := c.blob.encode(der); err != nil {
		return fmt.Errorf("%s: %s blob of serial %s: %w", c.DN, AttrSMIME, c.Serial, err)
	}
	c.SHA256 = hex.EncodeToString(c.blob.Hash[:])
	return nil
}

// Modification turns the entry plan into the values to write; der finds the
// DER of a certificate (see Cert.DER).
func (e EntryPlan) Modification(der func(*Cert) ([]byte, error)) (Modification, error) {
	m := Modification{DN: e.DN, SMIMEReplace: e.SMIMEReplace, CSN: e.CSN}
	for _, c := range e.Adds {
		v, err := der(c.cert)
		if err != nil {
			return m, fmt.Errorf("modify %s: add serial %s: %w", e.DN, c.Serial, err)
		}
		m.Add = append(m.Add, v)
	}
	for _, c := range e.Removes {
		v, err := der(c.cert)
		if err != nil {
			return m, fmt.Errorf("modify %s: remove serial %s: %w", e.DN, c.Serial, err)
		}
		m.Delete = append(m.Delete, v)
	}
	for _, c := range e.SMIMEAdds {
		if c.blob.DER == nil {
			return m, fmt.Errorf("modify %s: the %s blob is not encoded", e.DN, AttrSMIME)
		}
		m.SMIMEAdd = append(m.SMIMEAdd, c.blob.DER)
	}
	if !e.SMIMEReplace {
		for _, c := range e.SMIMERemoves {
			m.SMIMEDelete = append(m.SMIMEDelete, c.blob.DER)
		}
	}
	return m, nil
}

// withoutAdds is what is left of e once the directory refused a value it
// adds: removals that do not depend on an add (revoked, expired, stale blobs).
// Superseded values stay, as their successor did not arrive.
func (e EntryPlan) withoutAdds() EntryPlan {
	r := EntryPlan{DN: e.DN, CSN: e.CSN}
	for _, c := range e.Removes {
		if c.Reason != ReasonSuperseded {
			r.Removes = append(r.Removes, c)
		}
	}
	switch {
	case e.SMIMEReplace && len(e.SMIMEAdds) > 0:
		// The old blobs were to be replaced, not just removed: keep them all.
	case e.SMIMEReplace:
		r.SMIMEReplace, r.SMIMERemoves = true, e.SMIMERemoves
	default:
		for _, c := range e.SMIMERemoves {
			if c.Reason == ReasonStaleSMIME {
				r.SMIMERemoves = append(r.SMIMERemoves, c)
			}
		}
	}
	return r
}
