package sync

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certgal/certgal/internal/mailaddr"
)

// The statuses of `certgal report`, one per user, the first that applies.
const (
	StatusAmbiguous = "ambiguous_address" // an address of the user is claimed by another user too
	StatusNone      = "no_certificate"    // nothing is published for the user
	StatusExpiring  = "expiring"          // the user's current key ends within ExpiringWithin
	StatusStale     = "stale_smime"       // userSMIMECertificate holds only keys that should be gone
	StatusOK        = "ok"
)

// ExpiringWithin is how close to its end a current key is reported as expiring.
const ExpiringWithin = 30 * 24 * time.Hour

// UserReport is one user as `certgal report` shows it; Calculate fills
// Plan.Report with one per user when Input.Report is set.
type UserReport struct {
	DN        string    `json:"dn"`
	Addresses []string  `json:"addresses"`
	Serial    string    `json:"serial,omitempty"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	Status    string    `json:"status"`
}

// userReport is u's line of the report: e is its entry plan, skips the reports about it.
func (c *calculator) userReport(u User, e *EntryPlan, skips []Change) UserReport {
	r := UserReport{DN: u.DN, Addresses: u.Addresses}
	// The current key is the published certificate that lasts longest.
	for _, x := range e.desired {
		if r.Serial == "" || x.NotAfter().After(r.NotAfter) {
			r.Serial, r.NotAfter = x.SerialHex(), x.NotAfter()
		}
	}
	switch {
	case slices.ContainsFunc(u.Addresses, func(a string) bool { return c.byAddress.claimedByMany(mailaddr.Normalize(a)) }):
		r.Status = StatusAmbiguous
	case r.Serial == "":
		r.Status = StatusNone
	case r.NotAfter.Sub(c.in.Now) < ExpiringWithin:
		r.Status = StatusExpiring
	case slices.ContainsFunc(skips, func(s Change) bool { return s.Reason == ReasonStaleSMIME }):
		r.Status = StatusStale
	default:
		r.Status = StatusOK
	}
	return r
}

// WriteReport prints the report: "text" (aligned columns), "json" (one
// document) or "csv" (a header line, addresses joined by spaces).
func WriteReport(w io.Writer, format string, users []UserReport) error {
	when := func(r UserReport) string {
		if r.NotAfter.IsZero() {
			return ""
		}
		return r.NotAfter.UTC().Format(time.RFC3339)
	}
	switch format {
	case "json":
		if users == nil {
			users = []UserReport{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Users []UserReport `json:"users"`
		}{users})
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"dn", "addresses", "serial", "not_after", "status"})
		for _, r := range users {
			cw.Write([]string{r.DN, strings.Join(r.Addresses, " "), r.Serial, when(r), r.Status})
		}
		cw.Flush()
		return cw.Error()
	case "text":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STATUS\tDN\tADDRESSES\tSERIAL\tNOT AFTER")
		counts := map[string]int{}
		for _, r := range users {
			counts[r.Status]++
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Status, r.DN, strings.Join(r.Addresses, " "), r.Serial, when(r))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "report: %d users: %d ok, %d expiring, %d without a certificate, %d stale blobs, %d ambiguous\n",
			len(users), counts[StatusOK], counts[StatusExpiring], counts[StatusNone], counts[StatusStale], counts[StatusAmbiguous])
		return err
	}
	return fmt.Errorf("unknown report format %q", format)
}
