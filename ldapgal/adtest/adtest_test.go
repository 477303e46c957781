package adtest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/certgal/certgal/ldapgal/adtest"
)

var (
	dc    *adtest.DC
	dcErr error
)

func TestMain(m *testing.M) {
	dc, dcErr = adtest.Start()
	code := m.Run()
	if err := dc.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "adtest:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// cert makes a small self-signed DER certificate, distinct on every call.
func cert(t testing.TB, cn string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:   serial,
		Subject:        pkix.Name{CommonName: cn},
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().Add(time.Hour),
		EmailAddresses: []string{cn + "@corp.example"},
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func modify(conn *ldap.Conn, dn string, f func(*ldap.ModifyRequest)) error {
	req := ldap.NewModifyRequest(dn, nil)
	f(req)
	return conn.Modify(req)
}

// wantCode fails t unless err is an LDAP error with result code want, and logs the server's
// message so a run shows what Samba said.
func wantCode(t *testing.T, err error, want uint16) {
	t.Helper()
	if !ldap.IsErrorWithCode(err, want) {
		t.Fatalf("got %v, want result %d (%s)", err, want, ldap.LDAPResultCodeMap[want])
	}
	t.Logf("result %d as expected: %v", want, err)
}

func sameSet(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, bytes.Compare)
	slices.SortFunc(b, bytes.Compare)
	return slices.EqualFunc(a, b, bytes.Equal)
}

func TestRootDSEAdvertisesActiveDirectory(t *testing.T) {
	adtest.Require(t, dc, dcErr)
	conn := dc.Conn(t)
	res, err := conn.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"supportedCapabilities", "defaultNamingContext"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	caps := res.Entries[0].GetAttributeValues("supportedCapabilities")
	const activeDirectory = "1.2.840.113556.1.4.800" // LDAP_CAP_ACTIVE_DIRECTORY_OID
	if !slices.Contains(caps, activeDirectory) {
		t.Errorf("supportedCapabilities %v lacks %s", caps, activeDirectory)
	}
	if got := res.Entries[0].GetAttributeValue("defaultNamingContext"); !strings.EqualFold(got, dc.BaseDN) {
		t.Errorf("defaultNamingContext %q, want %q", got, dc.BaseDN)
	}
}

func TestWrongPasswordIsResult49(t *testing.T) {
	adtest.Require(t, dc, dcErr)
	conn, err := dc.Dial(dc.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	err = conn.Bind(dc.BindDN, dc.BindPW+"-wrong")
	wantCode(t, err, ldap.LDAPResultInvalidCredentials)
	// AD's diagnostic: "data 52e" is "bad password" (as opposed to 525 no such user, 533
	// disabled, 775 locked out).
	if !strings.Contains(err.Error(), "data 52e") {
		t.Errorf("diagnostic %q lacks AD's \"data 52e\"", err)
	}
}

func TestWrongCAFileIsRefused(t *testing.T) {
	adtest.Require(t, dc, dcErr)
	conn, err := dc.Dial(dc.OtherCAFile)
	if err == nil {
		conn.Close()
		t.Fatal("LDAPS with a CA that did not sign the DC's certificate: no error")
	}
	if !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("got %v, want an unknown-authority error", err)
	}
	t.Logf("refused as expected: %v", err)
}

func TestSimpleBindOverPlainLDAPNeedsStrongAuth(t *testing.T) {
	adtest.Require(t, dc, dcErr)
	conn, err := ldap.DialURL("ldap://127.0.0.1:389")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetTimeout(30 * time.Second)
	wantCode(t, conn.Bind(dc.BindDN, dc.BindPW), ldap.LDAPResultStrongAuthRequired)
}

func TestUserAttributes(t *testing.T) {
	adtest.Require(t, dc, dcErr)
	ou := dc.NewOU(t)
	dn := dc.AddUser(t, ou, "alice", "alice@corp.example", "SMTP:alice@corp.example", "smtp:al@corp.example")
	conn := dc.Conn(t)
	res, err := conn.Search(ldap.NewSearchRequest(ou, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, "(&(objectCategory=person)(objectClass=user)(sAMAccountName=alice))",
		[]string{"mail", "proxyAddresses"}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Entries) != 1 || !strings.EqualFold(res.Entries[0].DN, dn) {
		t.Fatalf("people filter found %d entries, want %s", len(res.Entries), dn)
	}
	e := res.Entries[0]
	if got := e.GetAttributeValue("mail"); got != "alice@corp.example" {
		t.Errorf("mail %q", got)
	}
	want := []string{"SMTP:alice@corp.example", "smtp:al@corp.example"}
	if got := e.GetAttributeValues("proxyAddresses"); !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		t.Errorf("proxyAddresses %q, want %q", got, want)
	}

	c1, c2 := cert(t, "alice"), cert(t, "alice")
	dc.SetCerts(t, dn, c1, c2)
	if got := dc.Certs(t, dn); !sameSet(got, [][]byte{c1, c2}) {
		t.Errorf("userCertificate: %d values, want c1 and c2", len(got))
	}
	blob := []byte{0x30, 0x03, 0x02, 0x01, 0x01} // userSMIMECertificate is an octet string: any bytes
	dc.SetSMIME(t, dn, blob)
	if got := dc.SMIME(t, dn); !sameSet(got, [][]byte{blob}) {
		t.Errorf("userSMIMECertificate %x, want %x", got, blob)
	}
	dc.SetCerts(t, dn)
	if got := dc.Certs(t, dn); len(got) != 0 {
		t.Errorf("userCertificate after replacing with nothing: %d values", len(got))
	}
}

func TestUserCertificateBehaviour(t *testing.T) {
	adtest.Require(t, dc, dcErr)
	ou := dc.NewOU(t)
	dn := dc.AddUser(t, ou, "bob", "bob@corp.example")
	conn := dc.Conn(t)
	c1, c2, c3 := cert(t, "bob"), cert(t, "bob"), cert(t, "bob")
	dc.SetCerts(t, dn, c1, c2, c3)

	t.Run("delete one exact value", func(t *testing.T) {
		if err := modify(conn, dn, func(r *ldap.ModifyRequest) { r.Delete("userCertificate", []string{string(c2)}) }); err != nil {
			t.Fatal(err)
		}
		if got := dc.Certs(t, dn); !sameSet(got, [][]byte{c1, c3}) {
			t.Errorf("after deleting c2: %d values, want c1 and c3", len(got))
		}
	})
	t.Run("add an existing value is 20", func(t *testing.T) {
		err := modify(conn, dn, func(r *ldap.ModifyRequest) { r.Add("userCertificate", []string{string(c1)}) })
		wantCode(t, err, ldap.LDAPResultAttributeOrValueExists)
	})
	t.Run("delete an absent value is 16", func(t *testing.T) {
		err := modify(conn, dn, func(r *ldap.ModifyRequest) { r.Delete("userCertificate", []string{string(c2)}) })
		wantCode(t, err, ldap.LDAPResultNoSuchAttribute)
	})
	t.Run("binary option is 16", func(t *testing.T) {
		err := modify(conn, dn, func(r *ldap.ModifyRequest) { r.Add("userCertificate;binary", []string{string(c2)}) })
		wantCode(t, err, ldap.LDAPResultNoSuchAttribute)
	})
	t.Run("32768 bytes is accepted", func(t *testing.T) {
		big := bytes.Repeat([]byte{0xa5}, 32768)
		if err := modify(conn, dn, func(r *ldap.ModifyRequest) { r.Add("userCertificate", []string{string(big)}) }); err != nil {
			t.Fatal(err)
		}
		if err := modify(conn, dn, func(r *ldap.ModifyRequest) { r.Delete("userCertificate", []string{string(big)}) }); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("32769 bytes is 21", func(t *testing.T) {
		big := bytes.Repeat([]byte{0xa5}, 32769)
		err := modify(conn, dn, func(r *ldap.ModifyRequest) { r.Add("userCertificate", []string{string(big)}) })
		wantCode(t, err, ldap.LDAPResultInvalidAttributeSyntax)
	})
	if got := dc.Certs(t, dn); !sameSet(got, [][]byte{c1, c3}) {
		t.Errorf("at the end: %d values, want c1 and c3", len(got))
	}
}

func TestPagedSearch(t *testing.T) {
	adtest.Require(t, dc, dcErr)
	ou := dc.NewOU(t)
	for i := range 5 {
		sam := fmt.Sprintf("user%d", i)
		dc.AddUser(t, ou, sam, sam+"@corp.example")
	}
	conn := dc.Conn(t)
	paging := ldap.NewControlPaging(2)
	req := ldap.NewSearchRequest(ou, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
		"(&(objectCategory=person)(objectClass=user))", []string{"mail"}, []ldap.Control{paging})
	var pages []int
	seen := map[string]bool{}
	for {
		res, err := conn.Search(req)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, len(res.Entries))
		for _, e := range res.Entries {
			seen[e.GetAttributeValue("mail")] = true
		}
		ctrl, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
		if !ok {
			t.Fatal("no paging control in the response")
		}
		if len(ctrl.Cookie) == 0 {
			break
		}
		if len(pages) > 10 {
			t.Fatalf("paging does not end: pages %v", pages)
		}
		paging.SetCookie(ctrl.Cookie)
	}
	if !slices.Equal(pages, []int{2, 2, 1}) {
		t.Errorf("page sizes %v, want [2 2 1]", pages)
	}
	if len(seen) != 5 {
		t.Errorf("saw %d distinct users, want 5", len(seen))
	}
}

func TestNewOUIsRemovedAtCleanup(t *testing.T) {
	adtest.Require(t, dc, dcErr)
	var ou string
	t.Run("user", func(t *testing.T) {
		ou = dc.NewOU(t)
		dc.AddUser(t, ou, "carol", "carol@corp.example", "SMTP:carol@corp.example")
		if !strings.HasPrefix(ou, "OU=t-TestNewOUIsRemovedAtCleanup-user-") {
			t.Errorf("OU %s does not carry the test's name", ou)
		}
	})
	conn := dc.Conn(t)
	_, err := conn.Search(ldap.NewSearchRequest(ou, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"1.1"}, nil))
	wantCode(t, err, ldap.LDAPResultNoSuchObject)
}

func TestSAMAccountNameIsDomainWide(t *testing.T) {
	adtest.Require(t, dc, dcErr)
	first, second := dc.NewOU(t), dc.NewOU(t)
	dc.AddUser(t, first, "dave", "dave@corp.example", "SMTP:dave@corp.example")
	// Same mail and proxyAddresses under another name: accepted (no uniqueness check).
	dc.AddUser(t, second, "dave2", "dave@corp.example", "SMTP:dave@corp.example")

	req := ldap.NewAddRequest("CN=dave,"+second, nil)
	req.Attribute("objectClass", []string{"user"})
	req.Attribute("sAMAccountName", []string{"dave"})
	wantCode(t, dc.Conn(t).Add(req), ldap.LDAPResultEntryAlreadyExists)
}
