package ldaptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

func TestSlapd(t *testing.T) {
	s := StartSlapd(t)

	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", s.PID))
	if err != nil || filepath.Base(exe) != "slapd" {
		t.Fatalf("PID %d is not slapd: %q, %v", s.PID, exe, err)
	}
	if s.RootDN != "cn=admin,"+s.Suffix {
		t.Errorf("RootDN = %q", s.RootDN)
	}

	t.Run("base entries", func(t *testing.T) {
		c := s.Conn(t)
		for _, dn := range []string{s.Suffix, "ou=people," + s.Suffix} {
			if _, err := c.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
				0, 0, false, "(objectClass=*)", []string{"1.1"}, nil)); err != nil {
				t.Errorf("search %s: %v", dn, err)
			}
		}
	})

	t.Run("user", func(t *testing.T) {
		dn := s.AddUser(t, "people", "o'brien+x", "o'brien+x@example.com", "ob@example.com")
		if want := `uid=o'brien\+x,ou=people,` + s.Suffix; dn != want {
			t.Errorf("DN = %q, want %q", dn, want)
		}
		res, err := s.Conn(t).Search(ldap.NewSearchRequest(s.Suffix, ldap.ScopeWholeSubtree,
			ldap.NeverDerefAliases, 0, 0, false,
			"(mail="+ldap.EscapeFilter("o'brien+x@example.com")+")", []string{"mail"}, nil))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Entries) != 1 || !sameDN(t, res.Entries[0].DN, dn) {
			t.Fatalf("search by mail: %d entries, want %s", len(res.Entries), dn)
		}
		if got := res.Entries[0].GetAttributeValues("mail"); !slices.Equal(got, []string{"o'brien+x@example.com", "ob@example.com"}) {
			t.Errorf("mail = %q", got)
		}
		// A second user in a new OU creates the OU; a second user in an existing one does not fail.
		s.AddUser(t, "sales", "carol", "carol@example.com")
		s.AddUser(t, "sales", "dave")
	})

	t.Run("certs and modify count", func(t *testing.T) {
		dn := s.AddUser(t, "people", "alice", "alice@example.com")
		if got := s.Certs(t, dn); got != nil {
			t.Fatalf("new user has %d certs", len(got))
		}
		a, b := testCert(t, "a@example.com"), testCert(t, "b@example.com")

		before := s.ModifyCount(t)
		s.SetCerts(t, dn, a, b)
		if got := s.ModifyCount(t); got != before+1 {
			t.Fatalf("ModifyCount after one SetCerts = %d, want %d", got, before+1)
		}
		got := s.Certs(t, dn)
		if len(got) != 2 || !containsBytes(got, a) || !containsBytes(got, b) {
			t.Fatalf("Certs = %d values, want a and b", len(got))
		}

		// Reads and adds are not modifies; every modify, failed or not, counts exactly once.
		before = s.ModifyCount(t)
		s.Certs(t, dn)
		s.AddUser(t, "people", "bob")
		if got := s.ModifyCount(t); got != before {
			t.Fatalf("ModifyCount changed by %d without a modify", got-before)
		}
		c := s.Conn(t)
		for i := 0; i < 50; i++ {
			before := s.ModifyCount(t)
			if i%2 == 0 {
				s.SetCerts(t, dn, a)
			} else {
				req := ldap.NewModifyRequest("uid=nobody,ou=people,"+s.Suffix, nil)
				req.Replace(CertAttr, []string{string(a)})
				if err := c.Modify(req); !ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
					t.Fatalf("modify of a missing entry: %v", err)
				}
			}
			if got := s.ModifyCount(t); got != before+1 {
				t.Fatalf("modify %d: ModifyCount = %d, want %d", i, got, before+1)
			}
		}

		s.SetCerts(t, dn)
		if got := s.Certs(t, dn); got != nil {
			t.Errorf("after SetCerts with no values: %d certs", len(got))
		}
	})

	t.Run("plain userCertificate is refused", func(t *testing.T) {
		dn := s.AddUser(t, "people", "plain")
		req := ldap.NewModifyRequest(dn, nil)
		req.Add("userCertificate", []string{string(testCert(t, "p@example.com"))})
		if err := s.Conn(t).Modify(req); !ldap.IsErrorWithCode(err, ldap.LDAPResultUndefinedAttributeType) {
			t.Errorf("modify with plain userCertificate: %v, want result 17", err)
		}
	})

	t.Run("ldaps", func(t *testing.T) {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("no certificate in %s", s.CAFile)
		}
		c, err := ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: pool}),
			ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Bind(s.RootDN, s.RootPW); err != nil {
			t.Fatal(err)
		}

		// A client that does not trust the test CA must refuse the server.
		_, err = ldap.DialURL(s.LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: x509.NewCertPool()}),
			ldap.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}))
		if err == nil {
			t.Fatal("dial with an empty trust store succeeded")
		}
	})

	t.Run("ldapi", func(t *testing.T) {
		c, err := ldap.DialURL(s.LDAPIURL)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Search(ldap.NewSearchRequest(s.Suffix, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
			0, 0, false, "(objectClass=*)", []string{"1.1"}, nil)); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSizeLimit checks that slapd pages like Active Directory: at most 1000 entries for an
// unpaged search by an ordinary account, everything when paging.
func TestSizeLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("adds 1001 entries")
	}
	s := StartSlapd(t)
	c := s.Conn(t)
	ou := s.AddOU(t, "many")
	const n = 1001
	for i := 0; i < n; i++ {
		req := ldap.NewAddRequest(fmt.Sprintf("uid=u%04d,%s", i, ou), nil)
		req.Attribute("objectClass", []string{"inetOrgPerson"})
		req.Attribute("uid", []string{fmt.Sprintf("u%04d", i)})
		req.Attribute("cn", []string{"u"})
		req.Attribute("sn", []string{"u"})
		req.Attribute("mail", []string{fmt.Sprintf("u%04d@example.com", i)})
		if err := c.Add(req); err != nil {
			t.Fatal(err)
		}
	}
	reader := s.AddUser(t, "svc", "reader")
	mod := ldap.NewModifyRequest(reader, nil)
	mod.Replace("userPassword", []string{"pw"})
	if err := c.Modify(mod); err != nil {
		t.Fatal(err)
	}

	rc, err := ldap.DialURL(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := rc.Bind(reader, "pw"); err != nil {
		t.Fatal(err)
	}
	search := ldap.NewSearchRequest(ou, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 0, 0, false,
		"(mail=*)", []string{"mail"}, nil)
	if _, err := rc.Search(search); !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		t.Errorf("unpaged search of %d entries: %v, want size limit exceeded", n, err)
	}
	res, err := rc.SearchWithPaging(search, 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != n {
		t.Errorf("paged search: %d entries, want %d", len(res.Entries), n)
	}
}

func TestStopsSlapd(t *testing.T) {
	var pid int
	var dir string
	t.Run("start", func(t *testing.T) {
		s := StartSlapd(t)
		pid, dir = s.PID, s.Dir
	})
	if pid == 0 {
		t.Skip("slapd did not start")
	}
	// The subtest's cleanup ran stop.sh. The process may linger as a zombie until whoever
	// inherited it reaps it, which is exited as far as anyone can tell.
	if running(pid) {
		t.Errorf("slapd %d (%s) still runs after cleanup", pid, dir)
	}
}

func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || !bytes.HasPrefix(stat[i+1:], []byte(" Z"))
}

// testCert returns a self-signed DER certificate for email: slapd checks the syntax of
// userCertificate values, so seeds must be real certificates.
func testCert(t testing.TB, email string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: email},
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().Add(time.Hour),
		EmailAddresses: []string{email},
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func sameDN(t testing.TB, a, b string) bool {
	t.Helper()
	da, err := ldap.ParseDN(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := ldap.ParseDN(b)
	if err != nil {
		t.Fatal(err)
	}
	return da.EqualFold(db)
}

func containsBytes(list [][]byte, b []byte) bool {
	return slices.ContainsFunc(list, func(x []byte) bool { return bytes.Equal(x, b) })
}
