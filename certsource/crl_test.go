package certsource

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"
)

// crlFixture is a CA and a CRL it signed, made in memory.
func crlFixture(t testing.TB, next time.Time) (*Trust, *Trust, []byte) {
	t.Helper()
	mk := func(cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
			BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, key
	}
	ca, key := mk("Corp CA")
	impostor, _ := mk("Corp CA")
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: time.Now().Add(-time.Hour), NextUpdate: next,
		RevokedCertificateEntries: []x509.RevocationListEntry{
			{SerialNumber: big.NewInt(0x1234), RevocationTime: time.Now().Add(-time.Minute), ReasonCode: 1},
			{SerialNumber: big.NewInt(0x99), RevocationTime: time.Now().Add(-time.Minute), ReasonCode: 8},
		},
	}, ca, key)
	if err != nil {
		t.Fatal(err)
	}
	return NewTrust([]*x509.Certificate{ca}), NewTrust([]*x509.Certificate{impostor}), crl
}

func TestParseCRL(t *testing.T) {
	trust, impostor, der := crlFixture(t, time.Now().Add(time.Hour))
	pemCRL := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	for name, data := range map[string][]byte{"DER": der, "PEM": pemCRL} {
		revs, err := ParseCRL(data, trust, time.Now())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// removeFromCRL (8) lifts a hold: not a revocation.
		if len(revs) != 1 || revs[0].Serial.Int64() != 0x1234 || revs[0].Reason != "keyCompromise" || revs[0].Issuer == "" {
			t.Errorf("%s: revocations %+v", name, revs)
		}
	}
	if _, err := ParseCRL(der, impostor, time.Now()); err == nil {
		t.Error("a CRL signed by another key with the same issuer name was accepted")
	}
	revs, err := ParseCRL(der, trust, time.Now().Add(2*time.Hour))
	if !errors.Is(err, ErrStaleCRL) || len(revs) != 1 {
		t.Errorf("stale CRL: %v, %d revocations (they stay usable)", err, len(revs))
	}
	if _, err := ParseCRL(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), trust, time.Now()); err == nil {
		t.Error("a PEM block of another type was accepted as a CRL")
	}
}

func FuzzParseCRL(f *testing.F) {
	trust, _, der := crlFixture(f, time.Now().Add(time.Hour))
	f.Add(der)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}))
	f.Add([]byte("-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		revs, err := ParseCRL(data, trust, time.Now())
		if err != nil && !errors.Is(err, ErrStaleCRL) && len(revs) > 0 {
			t.Fatalf("revocations returned with error %v", err)
		}
		for _, r := range revs {
			if r.Serial == nil || r.Issuer == "" {
				t.Fatalf("revocation without serial or issuer: %+v", r)
			}
		}
	})
}

// FuzzDecodeCertificate: whatever a certificate file holds, finding the certificate in it
// does not panic, never hands over a file with a private key in it, and what it hands over
// goes to x509.ParseCertificate, as parseFile and AppendDER do.
func FuzzDecodeCertificate(f *testing.F) {
	trust, _, _ := crlFixture(f, time.Now().Add(time.Hour))
	f.Add(trust.cas[0].Raw)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: trust.cas[0].Raw}))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		der, err := decodeCertificate(data)
		if err != nil {
			return
		}
		if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
			t.Fatal("a file with a private key was handed over")
		}
		x509.ParseCertificate(der) // must not panic; an error is fine
	})
}
