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
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/certgal/certgal/ldapgal/ldaptest"
	"github.com/certgal/certgal/sync"
)

// rekeyed issues a certificate for email with the given serial from a new CA
// key under the subject DN caName: two calls make what a CA re-keyed with its
// serial file started again makes, the same issuer and serial in other bytes.
func rekeyed(t *testing.T, caName string, serial int64, email string) []byte {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: caName}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: email}, EmailAddresses: []string{email},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// slapd matches userCertificate by issuer and serial: deleting one value
// deletes another with the same issuer and serial. The delete certgal plans
// against what it read asserts the entry's CSN, so a value written since is
// never the one that goes.
func TestModifyAssertsTheCSNOnOpenLDAP(t *testing.T) {
	s := ldaptest.StartSlapd(t)
	dn := s.AddUser(t, "people", "alice", "alice@corp.example")
	ours, twin := rekeyed(t, "Corp CA", 4096, "alice@corp.example"), rekeyed(t, "Corp CA", 4096, "alice@corp.example")
	s.SetCerts(t, dn, ours)
	c, err := Open(context.Background(), dirConfig(s), quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	read, err := c.User(ctx, dn)
	if err != nil || read.CSN == "" || len(read.Certificates) != 1 {
		t.Fatalf("User: %d certificates, CSN %q, %v", len(read.Certificates), read.CSN, err)
	}
	var streamed sync.Entry
	if err := c.Users(ctx, func(e sync.Entry) error {
		if e.DN == dn {
			streamed = keepEntry(e)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if streamed.CSN != read.CSN {
		t.Fatalf("streamed CSN %q, read %q", streamed.CSN, read.CSN)
	}

	// Someone replaces our value by its twin after certgal's read.
	s.SetCerts(t, dn, twin)
	err = c.Modify(ctx, sync.Modification{DN: dn, Delete: [][]byte{ours}, CSN: read.CSN})
	if !errors.Is(err, sync.ErrConflict) || !ldap.IsErrorWithCode(err, ldap.LDAPResultAssertionFailed) {
		t.Errorf("delete with the CSN of the read: %v, want ErrConflict wrapping result 122", err)
	}
	if got := s.Certs(t, dn); len(got) != 1 || !bytes.Equal(got[0], twin) {
		t.Errorf("after the refused delete the entry holds %d values, want the twin alone", len(got))
	}

	// Read again, the entry holds the twin; a modify of a fresh read passes the assertion.
	fresh, err := c.User(ctx, dn)
	if err != nil || fresh.CSN == read.CSN {
		t.Fatalf("re-read: CSN %q (was %q), %v", fresh.CSN, read.CSN, err)
	}
	if err := c.Modify(ctx, sync.Modification{DN: dn, Delete: [][]byte{twin}, CSN: fresh.CSN}); err != nil {
		t.Errorf("delete with the current CSN: %v", err)
	}

	// Without a CSN a delete is not sent at all.
	err = c.Modify(ctx, sync.Modification{DN: dn, Delete: [][]byte{twin}})
	if err == nil || errors.Is(err, sync.ErrConflict) || !strings.Contains(err.Error(), "entryCSN") {
		t.Errorf("delete without a CSN: %v, want an error naming entryCSN", err)
	}
}

// userSMIMECertificate is replaced whole on OpenLDAP; the replace asserts the
// CSN, so a blob written since the read is not overwritten.
func TestSMIMEReplaceAssertsTheCSNOnOpenLDAP(t *testing.T) {
	s, dn, c := aliceOnSlapd(t)
	ctx := context.Background()
	ours, theirs, managed := []byte("\x30\x03our"), []byte("\x30\x05their"), []byte("\x30\x03new")
	if err := c.Modify(ctx, sync.Modification{DN: dn, SMIMEReplace: true, SMIMEAdd: [][]byte{ours}, CSN: readCSN(t, c, dn)}); err != nil {
		t.Fatal(err)
	}
	read := readCSN(t, c, dn)

	// Outlook publishes its own blob after certgal's read.
	other := s.Conn(t)
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace("userSMIMECertificate", []string{string(theirs)})
	if err := other.Modify(req); err != nil {
		t.Fatal(err)
	}
	err := c.Modify(ctx, sync.Modification{DN: dn, SMIMEReplace: true, SMIMEAdd: [][]byte{managed}, CSN: read})
	if !errors.Is(err, sync.ErrConflict) || !ldap.IsErrorWithCode(err, ldap.LDAPResultAssertionFailed) {
		t.Errorf("replace with the CSN of the read: %v, want ErrConflict wrapping result 122", err)
	}
	if got := slapdSMIME(t, s, dn); len(got) != 1 || !bytes.Equal(got[0], theirs) {
		t.Errorf("after the refused replace: %q, want Outlook's blob alone", got)
	}
}

// The stream keeps an entry's one entryCSN, and none when the server sends
// several: a CSN that may not be the entry's must not be asserted.
func TestDecodeEntryCSN(t *testing.T) {
	c := testClientOf(DialectOpenLDAP)
	const csn = "20261206000458.688054Z#000000#000#000000"
	var stream []byte
	stream = append(stream, searchEntry(2, "uid=a,dc=corp", map[string][][]byte{"mail": {[]byte("a@corp.example")}, "entryCSN": {[]byte(csn)}})...)
	stream = append(stream, searchEntry(2, "uid=b,dc=corp", map[string][][]byte{"entryCSN": {[]byte(csn), []byte(csn)}})...)
	stream = append(stream, searchEntry(2, "uid=c,dc=corp", nil)...)
	got, _, err := decodeAll(c, append(stream, searchDone(2, 0, nil)...))
	if err != nil || len(got) != 3 {
		t.Fatalf("decoded %d entries, %v", len(got), err)
	}
	if got[0].CSN != csn || got[1].CSN != "" || got[2].CSN != "" {
		t.Errorf("CSNs %q %q %q, want %q and two empty", got[0].CSN, got[1].CSN, got[2].CSN, csn)
	}
	if len(got[0].Addresses) != 1 {
		t.Errorf("addresses %q", got[0].Addresses)
	}
}

// AD compares values by bytes and has no entryCSN; OpenLDAP matches
// certificates by issuer and serial and asserts entryCSN.
func TestDialectExactness(t *testing.T) {
	ad, _ := DialectByName(DialectAD)
	ol, _ := DialectByName(DialectOpenLDAP)
	if ad.CertMatchByIssuerSerial || ad.CSNAttr != "" {
		t.Errorf("ad dialect: %+v", ad)
	}
	if !ol.CertMatchByIssuerSerial || ol.CSNAttr != "entryCSN" {
		t.Errorf("openldap dialect: %+v", ol)
	}
}
