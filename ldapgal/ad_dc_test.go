package ldapgal

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/ldapgal/adtest"
	"github.com/certgal/certgal/sync"
)

// passDC is the dc field of the log line that says which DC a pass read from.
func passDC(t *testing.T, hook *logtest.Hook) string {
	t.Helper()
	for _, e := range hook.AllEntries() {
		if e.Message == "reading the directory" {
			dc, _ := e.Data["dc"].(string)
			return dc
		}
	}
	t.Fatal("no \"reading the directory\" log line")
	return ""
}

// blackhole is a TCP port that accepts connections and never answers: a DC
// that hangs.
func blackhole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// closedPort is a loopback address where nothing listens: connecting is refused.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// publish runs what a pass does with the directory: the read, then a write.
func publish(t *testing.T, c *Client, dn string) {
	t.Helper()
	ctx := context.Background()
	var seen []string
	if err := c.Users(ctx, func(e sync.Entry) error { seen = append(seen, strings.ToLower(e.DN)); return nil }); err != nil {
		t.Fatalf("read the users: %v", err)
	}
	if !slices.Contains(seen, strings.ToLower(dn)) {
		t.Fatalf("%s not among the users read: %q", dn, seen)
	}
	if err := c.Modify(ctx, sync.Modification{DN: dn, Add: [][]byte{selfSigned(t, "x@corp.example")}}); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func TestADFailoverToTheNextURL(t *testing.T) {
	dc := adtest.Need(t)
	ou := dc.NewOU(t)
	dn := dc.AddUser(t, ou, "ldg-fail", "fail@corp.example")
	cfg := adConfig(dc, ou)
	cfg.URL = ""
	// Refused at once, then a DC that accepts and never answers (the
	// timeout), then the DC.
	cfg.URLs = []string{"ldaps://" + closedPort(t), "ldaps://" + blackhole(t), dc.URL}
	cfg.Timeout = 2 * time.Second
	log, hook := logtest.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	c, err := Open(context.Background(), cfg, log, WithMetrics(m))
	if err != nil {
		t.Fatalf("Open with the third URL up: %v", err)
	}
	defer c.Close()
	if got := testutil.ToFloat64(m.failovers); got != 2 {
		t.Errorf("Open: %v failovers, want 2", got)
	}
	publish(t, c, dn)
	if got := passDC(t, hook); got != dc.URL {
		t.Errorf("the pass read from %q, want %q", got, dc.URL)
	}
	if got := testutil.ToFloat64(m.dcPosition); got != 2 {
		t.Errorf("certgal_directory_dc_position %v, want 2", got)
	}
	// Each pass tries the first DC again; its writes go to the DC it read from.
	if got := testutil.ToFloat64(m.failovers); got != 4 {
		t.Errorf("after a pass: %v failovers, want 4", got)
	}
	if got := len(dc.Certs(t, dn)); got != 1 {
		t.Errorf("%d certificates written, want 1", got)
	}

	// A write connection fails over too: no idle connection left, and the
	// first DC the current one again.
	for len(c.idle) > 0 {
		(<-c.idle).conn.Close()
	}
	c.mu.Lock()
	c.cur = 0
	c.mu.Unlock()
	if err := c.Modify(context.Background(), sync.Modification{DN: dn, Add: [][]byte{selfSigned(t, "y@corp.example")}}); err != nil {
		t.Fatalf("write on a new connection: %v", err)
	}
	if got := testutil.ToFloat64(m.failovers); got != 6 {
		t.Errorf("after a write on a new connection: %v failovers, want 6", got)
	}
	if got := len(dc.Certs(t, dn)); got != 2 {
		t.Errorf("%d certificates written, want 2", got)
	}

	// A wrong password is the same on every DC: no failover, and no more
	// failed binds to lock the account out.
	cfg.URLs = []string{dc.URL, "ldaps://" + closedPort(t)}
	cfg.BindPassword = "wrong"
	m = NewMetrics(prometheus.NewRegistry())
	_, err = Open(context.Background(), cfg, quiet(), WithMetrics(m))
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) || strings.Contains(err.Error(), "refused") {
		t.Errorf("wrong password: %v, want result 49 from the first DC only", err)
	}
	if got := testutil.ToFloat64(m.failovers); got != 0 {
		t.Errorf("wrong password: %v failovers, want 0", got)
	}

	// None answers: every DC's error is reported.
	cfg.URLs = []string{"ldaps://" + closedPort(t), "ldaps://" + blackhole(t)}
	cfg.BindPassword = adConfig(dc, ou).BindPassword
	_, err = Open(context.Background(), cfg, quiet())
	if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "no TLS handshake within") {
		t.Errorf("no DC up: %v, want both DCs' errors", err)
	}
}

func TestADDiscoverFromSRVRecords(t *testing.T) {
	dc := adtest.Need(t)
	if dc.DNSServer == "" || dc.Domain == "" {
		t.Fatal("the DC's DNS server is unknown (AD_DNS_SERVER, AD_DOMAIN)")
	}
	ou := dc.NewOU(t)
	dn := dc.AddUser(t, ou, "ldg-srv", "srv@corp.example")
	cfg := adConfig(dc, ou)
	cfg.URL, cfg.Discover, cfg.DNSServer = "", dc.Domain, dc.DNSServer

	// The test DC's DNS has dc0 (127.0.0.2, down) at priority 0, then dc1 at 10.
	got, err := domainControllers(context.Background(), cfg, resolver(cfg))
	want := []string{"ldaps://dc0." + dc.Domain + ":636", "ldaps://" + dc.Host + ":636"}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("discovered %q, %v; want %q", got, err, want)
	}

	for _, startTLS := range []bool{false, true} {
		cfg.StartTLS = startTLS
		log, hook := logtest.NewNullLogger()
		m := NewMetrics(prometheus.NewRegistry())
		c, err := Open(context.Background(), cfg, log, WithMetrics(m))
		if err != nil {
			t.Fatalf("start_tls %v: Open: %v", startTLS, err)
		}
		publish(t, c, dn)
		c.Close()
		wantDC := "ldaps://" + dc.Host + ":636"
		if startTLS {
			wantDC = "ldap://" + dc.Host + ":389"
		}
		if got := passDC(t, hook); got != wantDC {
			t.Errorf("start_tls %v: the pass read from %q, want %q (dc0 is down)", startTLS, got, wantDC)
		}
		if got := testutil.ToFloat64(m.dcPosition); got != 1 {
			t.Errorf("start_tls %v: certgal_directory_dc_position %v, want 1", startTLS, got)
		}
	}
	if got := len(dc.Certs(t, dn)); got != 2 {
		t.Errorf("%d certificates written, want 2", got)
	}
}

func TestADKerberosBindWithAKeytab(t *testing.T) {
	dc := adtest.Need(t)
	ou := dc.NewOU(t)
	dn := dc.AddUser(t, ou, "ldg-krb", "krb@corp.example")
	_, keytab := dc.ServiceAccount(t, ou, "ldg-krb-svc")
	cfg := adConfig(dc, ou)
	cfg.BindDN, cfg.BindPassword = "", ""
	cfg.SASLMechanism, cfg.KeytabFile, cfg.KRB5ConfFile = "GSSAPI", keytab, dc.Krb5Conf
	cfg.Principal = "ldg-krb-svc@" + dc.Realm
	// The service is ldap/<host>: the URL names the DC as DNS does.
	cfg.DNSServer = dc.DNSServer
	for _, tt := range []struct {
		url      string
		startTLS bool
	}{
		{"ldaps://" + dc.Host + ":636", false},
		{"ldap://" + dc.Host + ":389", true},
	} {
		cfg.URL, cfg.StartTLS = tt.url, tt.startTLS
		c, err := Open(context.Background(), cfg, quiet())
		if err != nil {
			t.Fatalf("%s: Open: %v", tt.url, err)
		}
		publish(t, c, dn)
		// The account may write only the two attributes delegated to it:
		// the bind is the service account's, not someone else's.
		err = c.withConn(context.Background(), func(conn *streamConn) error {
			mail := change{ldap.ReplaceAttribute, "mail", [][]byte{[]byte("other@corp.example")}}
			return conn.modify(dn, []change{mail}, assertionValue{})
		})
		if !ldap.IsErrorWithCode(err, ldap.LDAPResultInsufficientAccessRights) {
			t.Errorf("%s: writing mail as the service account: %v, want result 50", tt.url, err)
		}
		c.Close()
	}
	if got := len(dc.Certs(t, dn)); got != 2 {
		t.Errorf("%d certificates written, want 2", got)
	}

	// A wrong principal for the keytab is reported by Open.
	cfg.Principal = "ldg-nobody@" + dc.Realm
	if _, err := Open(context.Background(), cfg, quiet()); err == nil || !strings.Contains(err.Error(), "kerberos login") {
		t.Errorf("a principal the keytab has no key for: %v", err)
	}
}
