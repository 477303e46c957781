package sync

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
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
	ReasonNew           = "new"
	ReasonRevoked       = "revoked"
	ReasonExpired       = "expired"
	ReasonSuperseded    = "superseded"
	ReasonNoUser        = "no_user"
	ReasonAmbiguous     = "ambiguous_address"
	ReasonUntrusted     = "untrusted_issuer"
	ReasonMaxValues     = "max_values"
	ReasonUnknownOwned  = "unknown_to_source"
	ReasonNotYetValid   = "not_yet_valid"
	ReasonBrokenSource  = "broken_certificate"
	ReasonUnusablePrefx = "unusable_"
	ReasonTooLarge      = "value_too_large"
	ReasonFrozen        = "issuer_frozen"
)

// Change is one line of a plan.
type Change struct {
	Action Action `json:"action"`
	DN     string `json:"dn,omitempty"`
	Email  string `json:"email,omitempty"`
	Serial string `json:"serial"`
	Issuer string `json:"issuer"`
	Reason string `json:"reason"`
	SHA256 string `json:"sha256"`

	cert *Cert
}

func newChange(a Action, dn, email string, c *Cert, reason string) Change {
	return Change{Action: a, DN: dn, Email: email, Serial: c.SerialHex, Issuer: c.IssuerName,
		Reason: reason, SHA256: hex.EncodeToString(c.Hash[:]), cert: c}
}

// EntryPlan is the one modify a changed entry gets.
type EntryPlan struct {
	DN      string
	Adds    []Change
	Removes []Change

	desired []*Cert
}

// Modification turns the entry plan into the values to write.
func (e EntryPlan) Modification() Modification {
	m := Modification{DN: e.DN}
	for _, c := range e.Adds {
		m.Add = append(m.Add, c.cert.DER)
	}
	for _, c := range e.Removes {
		m.Delete = append(m.Delete, c.cert.DER)
	}
	return m
}

// Plan is what a pass will do (or, with -dry-run, would do).
type Plan struct {
	Entries []EntryPlan
	Skips   []Change
	// Blocked says why nothing may be written this pass; "" when writing is allowed.
	Blocked string
	// Published is what each user should hold after the pass: what a lookup serves.
	Published []Published
}

// Published is one user's desired certificates under the addresses that are
// the user's alone (an address two users claim leads to neither).
type Published struct {
	// Addresses are normalized: ASCII letters in lower case.
	Addresses []string
	Certs     []*Cert
}

// Counts returns the number of adds, removes and skips.
func (p *Plan) Counts() (adds, removes, skips int) {
	for _, e := range p.Entries {
		adds += len(e.Adds)
		removes += len(e.Removes)
	}
	return adds, removes, len(p.Skips)
}

// Changes lists every line of the plan: per entry removes then adds, sorted by
// DN, then the skips.
func (p *Plan) Changes() []Change {
	var out []Change
	for _, e := range p.Entries {
		out = append(out, e.Removes...)
		out = append(out, e.Adds...)
	}
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
		fmt.Fprintf(tw, "%s\t%s\t%s\tserial=%s\tissuer=%q\treason=%s\n", c.Action, dn, c.Email, c.Serial, c.Issuer, c.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	adds, removes, skips := p.Counts()
	_, err := fmt.Fprintf(w, "plan: %d to add, %d to remove, %d skipped, %d entries to modify\n", adds, removes, skips, len(p.Entries))
	if err == nil && p.Blocked != "" {
		_, err = fmt.Fprintf(w, "BLOCKED: %s; nothing will be written\n", p.Blocked)
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
}

// WriteJSON prints the plan as one JSON document.
func (p *Plan) WriteJSON(w io.Writer) error {
	adds, removes, skips := p.Counts()
	changes := p.Changes()
	if changes == nil {
		changes = []Change{}
	}
	doc := jsonPlan{Version: 1, Blocked: p.Blocked, Summary: summary{adds, removes, skips, len(p.Entries)}, Changes: changes}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
