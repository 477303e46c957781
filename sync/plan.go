package sync

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"text/tabwriter"
	"time"
)

// Action is what a plan line does.
type Action string

// The plan's actions.
const (
	ActionAdd    Action = "add"
	ActionRemove Action = "remove"
	ActionSkip   Action = "skip"
)

// Why values are removed or certificates skipped. They are metric label values
// and part of the JSON plan: keep them stable.
const (
	ReasonNew            = "new"
	ReasonRevoked        = "revoked"
	ReasonExpired        = "expired"
	ReasonSuperseded     = "superseded"
	ReasonNoUser         = "no_user"
	ReasonAmbiguous      = "ambiguous_address"
	ReasonUntrusted      = "untrusted_issuer"
	ReasonMaxValues      = "max_values"
	ReasonUnknownOwned   = "unknown_to_source"
	ReasonNotYetValid    = "not_yet_valid"
	ReasonBrokenSource   = "broken_certificate"
	ReasonUnusablePrefix = "unusable_"
	ReasonTooLarge       = "value_too_large"
	ReasonFrozen         = "issuer_frozen"
	// ReasonNotPublishable reports an owned value certgal would not publish
	// for the user (a smart-card, signing-only or EFS certificate of the same
	// CA, or one for another user's address): it is left alone.
	ReasonNotPublishable = "not_publishable"
	// ReasonSameIssuerSerial: a value is not removed because the entry holds
	// another with the same issuer and serial, which a directory matching by
	// issuer and serial (OpenLDAP) would delete instead or as well.
	ReasonSameIssuerSerial = "same_issuer_serial"

	// userSMIMECertificate (policy.smime_attribute). A blob is stale when every
	// certificate in it is certgal's and none should still be published.
	ReasonStaleSMIME    = "stale_smime"    // skip (report, or not removable here) or remove
	ReasonManagedSMIME  = "managed_smime"  // add: the certs-only PKCS#7 of the desired certificates
	ReasonReplacedSMIME = "replaced_smime" // remove: an owned blob the managed one replaces
	ReasonBrokenSMIME   = "broken_smime"   // skip: not a PKCS#7 SignedData with certificates; never deleted
	ReasonForeignSMIME  = "foreign_smime"  // skip: the attribute holds a blob certgal does not own and can only be replaced whole

	// ReasonValueRejected counts (metric and log, not a plan line) values the
	// directory refused when written, e.g. beyond a size limit certgal did not know.
	ReasonValueRejected = "value_rejected"
)

// AttrSMIME names the attribute of a plan line about Outlook's blob; lines
// about userCertificate carry no attribute.
const AttrSMIME = "userSMIMECertificate"

// Change is one line of a plan.
type Change struct {
	Action Action `json:"action"`
	DN     string `json:"dn,omitempty"`
	Email  string `json:"email,omitempty"`
	Serial string `json:"serial"`
	Issuer string `json:"issuer"`
	Reason string `json:"reason"`
	SHA256 string `json:"sha256"`
	// Attribute is AttrSMIME for a line about a userSMIMECertificate blob; its
	// SHA256 is then the whole blob's, and Email, Serial and Issuer those of
	// the blob's first certificate.
	Attribute string `json:"attribute,omitempty"`
	// Held marks a change the plan computed but does not write, because the
	// pass is blocked (Plan.Blocked).
	Held bool `json:"held,omitempty"`

	cert *Cert
	blob *Blob
	// revocation marks the removal of a revoked value (or of a blob of
	// revoked values only): never held back by policy.max_deletes.
	revocation bool
	// takesKey marks a removal that leaves one of the user's addresses
	// without a key: what policy.max_deletes counts.
	takesKey bool
}

func newChange(a Action, dn, email string, c *Cert, reason string) Change {
	return Change{Action: a, DN: dn, Email: email, Serial: c.SerialHex, Issuer: c.IssuerName,
		Reason: reason, SHA256: hex.EncodeToString(c.Hash[:]), cert: c}
}

func newBlobChange(a Action, dn string, b *Blob, reason string) Change {
	c := Change{Action: a, DN: dn, Reason: reason, Attribute: AttrSMIME, blob: b}
	if b.DER != nil { // a planned blob's hash is known once it is encoded
		c.SHA256 = hex.EncodeToString(b.Hash[:])
	}
	if first := b.first(); first != nil {
		c.Email, c.Serial, c.Issuer = firstEmail(first), first.SerialHex, first.IssuerName
	}
	return c
}

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

// WriteText prints the plan for an admin: one line per change.
func (p *Plan) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range p.Changes() {
		dn := c.DN
		if dn == "" {
			dn = "-"
		}
		attr := ""
		if c.Attribute != "" {
			attr = "\tattribute=" + c.Attribute
		}
		if c.Held {
			attr += "\theld"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\tserial=%s\tissuer=%q\treason=%s%s\n", c.Action, dn, c.Email, c.Serial, c.Issuer, c.Reason, attr)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	adds, removes, skips := p.Counts()
	_, err := fmt.Fprintf(w, "plan: %d to add, %d to remove, %d skipped, %d entries to modify\n", adds, removes, skips, len(p.Entries))
	if err == nil && p.Blocked != "" {
		what := "nothing will be written"
		if len(p.Entries) > 0 {
			what = fmt.Sprintf("only the revocations listed before the %d held changes will be written", len(p.Held))
		}
		_, err = fmt.Fprintf(w, "BLOCKED: %s; %s\n", p.Blocked, what)
	}
	return err
}

// jsonPlan is the documented, stable JSON form of a plan (docs/plan-json.md).
type jsonPlan struct {
	Version int      `json:"version"`
	Blocked string   `json:"blocked"`
	Summary summary  `json:"summary"`
	Changes []Change `json:"changes"`
}

type summary struct {
	Add     int `json:"add"`
	Remove  int `json:"remove"`
	Skip    int `json:"skip"`
	Entries int `json:"entries"`
	Held    int `json:"held"`
}

// WriteJSON prints the plan as one JSON document.
func (p *Plan) WriteJSON(w io.Writer) error {
	adds, removes, skips := p.Counts()
	changes := p.Changes()
	if changes == nil {
		changes = []Change{}
	}
	doc := jsonPlan{Version: 1, Blocked: p.Blocked, Summary: summary{adds, removes, skips, len(p.Entries), len(p.Held)}, Changes: changes}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// expiryWindows are the windows of Plan.Expiring, and the label values of
// certgal_published_certificates_expiring.
var expiryWindows = [...]struct {
	label string
	d     time.Duration
}{{"7d", 7 * 24 * time.Hour}, {"30d", ExpiringWithin}}
