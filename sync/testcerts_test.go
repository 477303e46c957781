package sync

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	stdsync "sync"
	"testing"
	"time"
)

// testCA issues certificates in memory for the rule tables.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t testing.TB, cn string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn, Organization: []string{"Corp"}},
		NotBefore: time.Unix(0, 0), NotAfter: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: key}
}

// leaf describes a certificate to issue; zero fields get S/MIME defaults.
type leaf struct {
	serial    int64
	emails    []string
	notBefore time.Time
	notAfter  time.Time
	eku       []x509.ExtKeyUsage
	noEKU     bool
	ku        x509.KeyUsage
	rsa       bool
	// subjectEmail puts an emailAddress in the subject, as legacy certificates do.
	subjectEmail string
}

var (
	rsaOnce stdsync.Once
	rsaKey  *rsa.PrivateKey
	ecKey   *ecdsa.PrivateKey
)

func leafKeys(t testing.TB) {
	rsaOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	})
}

func (ca *testCA) issue(t testing.TB, l leaf) *x509.Certificate {
	t.Helper()
	leafKeys(t)
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(l.serial),
		Subject:        pkix.Name{CommonName: "user"},
		EmailAddresses: l.emails,
		NotBefore:      l.notBefore, NotAfter: l.notAfter,
		ExtKeyUsage: l.eku, KeyUsage: l.ku,
	}
	if l.subjectEmail != "" {
		tmpl.Subject.ExtraNames = []pkix.AttributeTypeAndValue{{Type: oidEmailAddress, Value: l.subjectEmail}}
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = now.Add(-30 * 24 * time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = now.Add(365 * 24 * time.Hour)
	}
	if l.eku == nil && !l.noEKU {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
	}
	var pub any = &ecKey.PublicKey
	if l.rsa {
		pub = &rsaKey.PublicKey
		if l.ku == 0 {
			tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		}
	} else if l.ku == 0 {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// now is the fixed clock of the rule tables.
var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
