package sync

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

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
