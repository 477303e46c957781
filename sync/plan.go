package sync

import (
	"fmt"
	"sort"

	"github.com/sirupsen/logrus"
)

// plan is the pass's second phase: the rules, Calculate's, on what read
// gathered; then the blobs the plan writes, encoded from the CA store's DER
// (the one part of planning that reads). An entry whose blob cannot be
// encoded leaves the plan: its error is returned, to fail the pass's entry.
func (s *Syncer) plan(r *readResult) (*Plan, []error) {
	r.calc.finish(r.users, r.idx)
	p := r.calc.plan()
	errs := p.encodeBlobs(r.ders.der)
	for _, err := range errs {
		s.metrics.entryErrors.Inc()
		s.log.WithField("error", err.Error()).Error("entry not written")
	}
	s.metrics.countPlan(p, r.users.len())
	for _, c := range p.Skips {
		if c.Attribute != "" {
			// policy.smime_attribute report: say which blob, as nothing changes it.
			s.log.WithFields(logrus.Fields{"dn": c.DN, "email": c.Email, "serial": c.Serial, "sha256": c.SHA256,
				"attribute": c.Attribute, "reason": c.Reason}).Info("blob left as it is")
		}
	}
	s.log.WithFields(logrus.Fields{"store_read": millis(r.read), "store_done": millis(r.processed),
		"directory_read": millis(r.directoryRead), "planned": since(r.start)}).Debug("pass phases")
	return p, errs
}

// Plan is what a pass will do (or, with -dry-run, would do).
type Plan struct {
	Entries []EntryPlan
	Skips   []Change
	// Blocked says why the pass is stopped short: Entries then hold only
	// what is written all the same (revocations, or nothing), and Held the
	// changes held back. "" when the whole plan is written.
	Blocked string
	Held    []Change
	// Published is what each user should hold after the pass: what a lookup serves.
	Published []Published
	// UsersWithCertificate counts the users something is published for.
	UsersWithCertificate int
	// Expiring counts the published certificates that end within each of expiryWindows.
	Expiring [len(expiryWindows)]int
	// Report is a line per user, in directory order, when Input.Report was set.
	Report []UserReport
}

// Published is one user's desired certificates under the addresses that are
// the user's alone (an address two users claim leads to neither).
type Published struct {
	// Addresses are normalized: ASCII letters in lower case.
	Addresses []string
	Certs     []*Cert
}

// hold blocks p for reason: only revocations are written (when
// revocations is set; nothing otherwise), every other change is held back.
func (p *Plan) hold(reason string, revocations bool) {
	p.Blocked = reason
	var kept []EntryPlan
	for _, e := range p.Entries {
		w, held := e.hold(revocations)
		p.Held = append(p.Held, held...)
		if !w.empty() {
			kept = append(kept, w)
		}
	}
	p.Entries = kept
}

// encodeBlobs writes the DER of the blobs Calculate planned without it (see
// plannedBlob) from the DER der finds: the CA store's, read again. An entry
// whose blob cannot be written leaves the plan, and its error is returned:
// the entry fails rather than being written otherwise. A line that is not
// written (held, skipped) keeps an empty SHA-256 then, with its error.
func (p *Plan) encodeBlobs(der func(*Cert) ([]byte, error)) []error {
	var errs []error
	kept := p.Entries[:0]
	for _, e := range p.Entries {
		if err := e.encodeBlobs(der); err != nil {
			errs = append(errs, fmt.Errorf("modify %s: %w", e.DN, err))
			continue
		}
		kept = append(kept, e)
	}
	p.Entries = kept
	resort := false
	for _, l := range [][]Change{p.Held, p.Skips} {
		for i := range l {
			if l[i].blob != nil && l[i].SHA256 == "" {
				resort = true
				if err := l[i].encodeBlob(der); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if resort {
		p.sort() // skips are ordered by SHA-256 last
	}
	return errs
}

// Counts returns the number of adds, removes and skips that the plan writes
// or reports; held-back changes are not among them.
func (p *Plan) Counts() (adds, removes, skips int) {
	for _, e := range p.Entries {
		adds += len(e.Adds) + len(e.SMIMEAdds)
		removes += e.removals()
	}
	return adds, removes, len(p.Skips)
}

// Changes lists every line of the plan: per entry removes then adds, then the
// userSMIMECertificate removes and adds, sorted by DN, then what a blocked
// pass holds back, then the skips.
func (p *Plan) Changes() []Change {
	var out []Change
	for _, e := range p.Entries {
		out = append(out, e.Removes...)
		out = append(out, e.Adds...)
		out = append(out, e.SMIMERemoves...)
		out = append(out, e.SMIMEAdds...)
	}
	out = append(out, p.Held...)
	return append(out, p.Skips...)
}

func (p *Plan) sort() {
	sort.Slice(p.Entries, func(i, j int) bool { return p.Entries[i].DN < p.Entries[j].DN })
	sort.SliceStable(p.Skips, func(i, j int) bool {
		a, b := p.Skips[i], p.Skips[j]
		if a.Reason != b.Reason {
			return a.Reason < b.Reason
		}
		if a.Email != b.Email {
			return a.Email < b.Email
		}
		return a.SHA256 < b.SHA256
	})
}
