package ldapgal

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/ldapgal/adtest"
	"github.com/certgal/certgal/sync"
)

// ticketLifetime is the lifetime the test's krb5.conf asks for. Samba's KDC
// refuses a TGT in its last two minutes (it could be a kpasswd ticket), so a
// TGT must live longer than that to be of use at all; three minutes leaves
// one to get the service ticket with and keeps the test near three minutes.
// Samba's own lifetimes (kdc:user ticket lifetime and kdc:service ticket
// lifetime) are whole hours.
const ticketLifetime = 3 * time.Minute

// TestADKerberosTicketsRenewed runs a Kerberos-bound client past the end of
// its first tickets, as a daemon that runs for days does many times, and
// binds again: with a TGT that is not renewable (gokrb5 logs in again with
// the keytab) and with a renewable one (krb5.conf's renew_lifetime: Samba
// refuses its renewal in its last two minutes, and gokrb5 would try to renew
// the expired TGT for an hour; certgal logs in again).
//
// The first tickets' ends are read from the client, and the test waits for
// them by its clock (the DC's: they share it). The DC refuses the session
// bound with the old service ticket from its end on; a new bind with it
// would still be accepted for five minutes (Kerberos' clock skew), longer
// than the test may wait, so the test shows instead that the binds after
// expiry got a new TGT (a new login: its authtime is new) and a new service
// ticket.
func TestADKerberosTicketsRenewed(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for tickets to expire (3 minutes): not in -short")
	}
	dc := adtest.Need(t)
	ou := dc.NewOU(t)
	_, keytab := dc.ServiceAccount(t, ou, "ldg-renew-svc")
	for i, tt := range []struct {
		name        string
		libdefaults string
		renewable   bool
	}{
		{"not renewable", "ticket_lifetime = 3m", false},
		{"renewable", "ticket_lifetime = 3m\n\trenew_lifetime = 1h", true},
	} {
		sam := "ldg-renew" + string(rune('a'+i))
		dn := dc.AddUser(t, ou, sam, sam+"@corp.example")
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := adConfig(dc, ou)
			cfg.BindDN, cfg.BindPassword = "", ""
			cfg.SASLMechanism, cfg.KeytabFile = "GSSAPI", keytab
			cfg.KRB5ConfFile = krb5ConfWith(t, dc.Krb5Conf, tt.libdefaults)
			cfg.Principal = "ldg-renew-svc@" + dc.Realm
			cfg.DNSServer = dc.DNSServer
			cfg.URL = "ldaps://" + dc.Host + ":636"
			spn := "ldap/" + dc.Host
			log, hook := test.NewNullLogger()
			log.SetLevel(logrus.DebugLevel)
			c, err := Open(context.Background(), cfg, log)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer c.Close()

			publish(t, c, dn)
			first := heldTickets(t, c.dialer.krb)
			end, ok := first.service[spn]
			if !ok {
				t.Fatalf("no ticket for %s held after a bind: %+v", spn, first)
			}
			// The KDC issued what krb5.conf asked for, not AD's ten hours.
			for what, e := range map[string]time.Time{"TGT": first.tgt.EndTime, spn: end} {
				if left := time.Until(e); left <= 0 || left > ticketLifetime {
					t.Fatalf("the %s ends in %s, want within %s", what, left, ticketLifetime)
				}
			}
			if got := !first.tgt.RenewTill.IsZero(); got != tt.renewable {
				t.Fatalf("TGT renewable %v (renew-till %s), want %v", got, first.tgt.RenewTill, tt.renewable)
			}

			time.Sleep(time.Until(end) + time.Second)
			// Both tickets have ended. The connection bound with them, idle
			// since the first write, is refused: Samba ends an LDAP session
			// when its service ticket ends (it answers the next request with
			// a notice of disconnection). The write goes through all the same,
			// on a new connection bound with new tickets.
			ctx := context.Background()
			mod := sync.Modification{DN: dn, Add: [][]byte{selfSigned(t, sam+"@corp.example")}}
			if err := c.Modify(ctx, mod); err != nil {
				t.Fatalf("write after expiry: %v", err)
			}
			if !slices.ContainsFunc(hook.AllEntries(), func(e *logrus.Entry) bool {
				return strings.HasPrefix(e.Message, "idle connection closed by the server")
			}) {
				t.Error("the write after expiry did not meet the connection the DC closed: the test proves nothing of it")
			}
			// The read opens a connection of its own and binds again too.
			if err := c.Users(ctx, func(sync.Entry) error { return nil }); err != nil {
				t.Fatalf("read after expiry: %v", err)
			}
			second := heldTickets(t, c.dialer.krb)
			if !second.tgt.AuthTime.After(first.tgt.AuthTime) || !second.tgt.EndTime.After(first.tgt.EndTime) {
				t.Errorf("TGT after expiry: authtime %s, end %s; want a new login after the first's (authtime %s, end %s)",
					second.tgt.AuthTime, second.tgt.EndTime, first.tgt.AuthTime, first.tgt.EndTime)
			}
			if got := second.service[spn]; !got.After(time.Now()) {
				t.Errorf("service ticket after expiry ends %s, want a new one (the first ended %s)", got, end)
			}
			if got := len(dc.Certs(t, dn)); got != 2 {
				t.Errorf("%d certificates written, want 2 (one before expiry, one after)", got)
			}
		})
	}
}

// krb5ConfWith writes a copy of the DC's krb5.conf with lines added to
// [libdefaults], and returns its path.
func krb5ConfWith(t *testing.T, path, libdefaults string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	conf, n := strings.CutPrefix(string(b), "[libdefaults]\n")
	if !n {
		t.Fatalf("%s does not start with [libdefaults]", path)
	}
	out := filepath.Join(t.TempDir(), "krb5.conf")
	if err := os.WriteFile(out, []byte("[libdefaults]\n\t"+libdefaults+"\n"+conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// tickets is what a Kerberos client holds: its TGT and, by SPN, the ends of
// its service tickets.
type tickets struct {
	tgt struct {
		AuthTime, EndTime, RenewTill time.Time
	}
	service map[string]time.Time
}

// heldTickets reads the client's TGT and service tickets from gokrb5's
// description of itself (Print: JSON lists under headings), the only place
// it tells them.
func heldTickets(t *testing.T, k *kerberos) tickets {
	t.Helper()
	var b bytes.Buffer
	k.client.Print(&b)
	section := func(heading, next string) []byte {
		_, s, ok := strings.Cut(b.String(), heading+":\n")
		s, _, ok2 := strings.Cut(s, next+":\n")
		if !ok || !ok2 {
			t.Fatalf("no %q section before %q in gokrb5's Print:\n%s", heading, next, b.String())
		}
		return []byte(s)
	}
	var sessions []struct {
		Realm                        string
		AuthTime, EndTime, RenewTill time.Time
	}
	if err := json.Unmarshal(section("TGT Sessions", "Service ticket cache"), &sessions); err != nil || len(sessions) != 1 {
		t.Fatalf("TGT sessions: %v, %d sessions (want 1)", err, len(sessions))
	}
	var cache []struct {
		SPN     string
		EndTime time.Time
	}
	if err := json.Unmarshal(section("Service ticket cache", "Settings"), &cache); err != nil {
		t.Fatalf("service ticket cache: %v", err)
	}
	var held tickets
	held.tgt.AuthTime, held.tgt.EndTime, held.tgt.RenewTill = sessions[0].AuthTime, sessions[0].EndTime, sessions[0].RenewTill
	held.service = map[string]time.Time{}
	for _, e := range cache {
		held.service[e.SPN] = e.EndTime
	}
	return held
}
