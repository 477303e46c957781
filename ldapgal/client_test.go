package ldapgal

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/ldapgal/ldaptest"
	"github.com/certgal/certgal/sync"
)

func selfSigned(t testing.TB, email string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: email}, EmailAddresses: []string{email},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func dirConfig(s *ldaptest.Slapd) config.Directory {
	cfg := config.Default().Dir
	cfg.URL = s.LDAPSURL
	cfg.CAFile = s.CAFile
	cfg.BindDN = s.RootDN
	cfg.BindPassword = config.Secret(s.RootPW)
	cfg.BaseDN = s.Suffix
	cfg.Timeout = 5 * time.Second
	return cfg
}

// keepEntry copies what Users' fn may keep of an entry: its lists and values
// are the directory's, used again after fn returns.
func keepEntry(e sync.Entry) sync.Entry {
	clone := func(vs [][]byte) [][]byte {
		if vs == nil {
			return nil
		}
		out := make([][]byte, len(vs))
		for i, v := range vs {
			out[i] = bytes.Clone(v)
		}
		return out
	}
	e.Addresses, e.Certificates, e.SMIME = slices.Clone(e.Addresses), clone(e.Certificates), clone(e.SMIME)
	return e
}

func quiet() logrus.FieldLogger {
	l, _ := test.NewNullLogger()
	return l
}

func TestDialModes(t *testing.T) {
	s := ldaptest.StartSlapd(t)
	ctx := context.Background()
	tests := []struct {
		name    string
		mod     func(*config.Directory)
		wantErr string
	}{
		{"ldaps with the server's CA", func(c *config.Directory) {}, ""},
		{"ldap with StartTLS", func(c *config.Directory) { c.URL, c.StartTLS = s.URL, true }, ""},
		{"ldap in clear is refused", func(c *config.Directory) { c.URL = s.URL }, "sends the password in clear"},
		{"ldap in clear when allowed", func(c *config.Directory) { c.URL, c.AllowPlaintext = s.URL, true }, ""},
		{"ldapi", func(c *config.Directory) { c.URL = s.LDAPIURL }, ""},
		{"ldaps without the server's CA is refused", func(c *config.Directory) { c.CAFile = "" }, "certificate signed by unknown authority"},
		{"StartTLS without the server's CA is refused", func(c *config.Directory) { c.URL, c.StartTLS, c.CAFile = s.URL, true, "" }, "certificate signed by unknown authority"},
		{"wrong password", func(c *config.Directory) { c.BindPassword = "wrong" }, "Invalid Credentials"},
		{"nothing listening", func(c *config.Directory) { c.URL = "ldaps://127.0.0.1:1" }, "connection refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := dirConfig(s)
			tc.mod(&cfg)
			c, err := Open(ctx, cfg, quiet())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Open: %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer c.Close()
			if c.Dialect().Name != DialectOpenLDAP {
				t.Errorf("dialect = %q, want openldap (auto)", c.Dialect().Name)
			}
		})
	}
}

// TestCAFileIsReadByOpen: ca_file is read once, by Open; the pass's
// connections use what it read, so a CA file replaced on disk takes effect
// at the next Open (a reload), as the other files do.
func TestCAFileIsReadByOpen(t *testing.T) {
	s := ldaptest.StartSlapd(t)
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg := dirConfig(s)
	cfg.CAFile = filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(cfg.CAFile, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Open(context.Background(), cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := os.Remove(cfg.CAFile); err != nil {
		t.Fatal(err)
	}
	// Users reads on a connection of its own, dialled now.
	if err := c.Users(context.Background(), func(sync.Entry) error { return nil }); err != nil {
		t.Errorf("a pass after the CA file is gone: %v", err)
	}
	if _, err := Open(context.Background(), cfg, quiet()); err == nil || !strings.Contains(err.Error(), "directory.ca_file") {
		t.Errorf("Open without the CA file: %v, want a directory.ca_file error", err)
	}
}

func TestUsersStreamsEveryPage(t *testing.T) {
	s := ldaptest.StartSlapd(t)
	want := map[string][]string{}
	for i := range 25 {
		uid := fmt.Sprintf("u%02d", i)
		dn := s.AddUser(t, "people", uid, uid+"@corp.example", "Alias."+uid+"@Corp.example")
		want[dn] = []string{uid + "@corp.example", "Alias." + uid + "@Corp.example"}
	}
	cert := selfSigned(t, "u03@corp.example")
	s.SetCerts(t, "uid=u03,ou=people,"+s.Suffix, cert)

	cfg := dirConfig(s)
	cfg.PageSize = 7
	c, err := Open(context.Background(), cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := map[string]sync.Entry{}
	err = c.Users(context.Background(), func(e sync.Entry) error {
		if _, dup := got[e.DN]; dup {
			t.Errorf("%s streamed twice", e.DN)
		}
		got[e.DN] = keepEntry(e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d users, want %d", len(got), len(want))
	}
	for dn, addrs := range want {
		e := got[dn]
		slices.Sort(e.Addresses)
		slices.Sort(addrs)
		if !slices.Equal(e.Addresses, addrs) {
			t.Errorf("%s addresses = %v, want %v", dn, e.Addresses, addrs)
		}
	}
	if e := got["uid=u03,ou=people,"+s.Suffix]; len(e.Certificates) != 1 || string(e.Certificates[0]) != string(cert) {
		t.Errorf("certificate of u03 not read back: %d values", len(e.Certificates))
	}

	stop := errors.New("stop")
	n := 0
	err = c.Users(context.Background(), func(sync.Entry) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("callback error: got %v after %d entries, want stop after 1", err, n)
	}
}

func TestModify(t *testing.T) {
	s := ldaptest.StartSlapd(t)
	dn := s.AddUser(t, "people", "alice", "alice@corp.example")
	a, b, other := selfSigned(t, "alice@corp.example"), selfSigned(t, "alice@corp.example"), selfSigned(t, "alice@corp.example")
	s.SetCerts(t, dn, other)
	c, err := Open(context.Background(), dirConfig(s), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	before := s.ModifyCount(t)
	if err := c.Modify(ctx, sync.Modification{DN: dn, Add: [][]byte{a, b}}); err != nil {
		t.Fatalf("add: %v", err)
	}
	if err := c.Modify(ctx, sync.Modification{DN: dn, Delete: [][]byte{a}, CSN: readCSN(t, c, dn)}); err != nil {
		t.Fatalf("delete exact value: %v", err)
	}
	if n := s.ModifyCount(t) - before; n != 2 {
		t.Errorf("server completed %d modify operations, want 2", n)
	}
	got := s.Certs(t, dn)
	if len(got) != 2 || !slices.ContainsFunc(got, func(v []byte) bool { return string(v) == string(b) }) ||
		!slices.ContainsFunc(got, func(v []byte) bool { return string(v) == string(other) }) {
		t.Errorf("values after modify: %d, want b and the untouched other", len(got))
	}

	err = c.Modify(ctx, sync.Modification{DN: dn, Add: [][]byte{b}})
	if !errors.Is(err, sync.ErrConflict) || !ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) {
		t.Errorf("adding an existing value: %v, want ErrConflict wrapping result 20", err)
	}
	err = c.Modify(ctx, sync.Modification{DN: dn, Delete: [][]byte{a}, CSN: readCSN(t, c, dn)})
	if !errors.Is(err, sync.ErrConflict) || !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
		t.Errorf("deleting an absent value: %v, want ErrConflict wrapping result 16", err)
	}
	err = c.Modify(ctx, sync.Modification{DN: "uid=ghost,ou=people," + s.Suffix, Add: [][]byte{a}})
	if err == nil || errors.Is(err, sync.ErrConflict) || !strings.Contains(err.Error(), "uid=ghost") {
		t.Errorf("modify of a missing entry: %v, want a plain error naming the DN", err)
	}

	e, err := c.User(ctx, dn)
	if err != nil || e.DN != dn || len(e.Certificates) != 2 || !slices.Equal(e.Addresses, []string{"alice@corp.example"}) {
		t.Errorf("User(%s) = %+v, %v", dn, e, err)
	}
}

// readCSN is dn's CSN as certgal reads it with the entry.
func readCSN(t *testing.T, c *Client, dn string) string {
	t.Helper()
	e, err := c.User(context.Background(), dn)
	if err != nil {
		t.Fatal(err)
	}
	if e.CSN == "" {
		t.Fatalf("%s read without a CSN", dn)
	}
	return e.CSN
}

func TestCancelledContextStopsTheRead(t *testing.T) {
	s := ldaptest.StartSlapd(t)
	s.AddUser(t, "people", "alice", "alice@corp.example")
	c, err := Open(context.Background(), dirConfig(s), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Users(ctx, func(sync.Entry) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("Users with a cancelled context: %v, want context.Canceled", err)
	}
}

// aliceOnSlapd starts slapd with one user, alice, and opens a Client to it,
// closed when the test ends.
func aliceOnSlapd(tb testing.TB) (*ldaptest.Slapd, string, *Client) {
	tb.Helper()
	s := ldaptest.StartSlapd(tb)
	dn := s.AddUser(tb, "people", "alice", "alice@corp.example")
	c, err := Open(context.Background(), dirConfig(s), quiet())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return s, dn, c
}
