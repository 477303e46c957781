package certsource

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
)

// IssuerID names one trusted CA: its subject and key, so a foreign CA that
// copied our subject DN never gets our ID.
type IssuerID string

// Trust is the set of issuing CAs certgal works for (trust.ca_files).
type Trust struct {
	cas   []*x509.Certificate
	ids   []IssuerID
	names []string // cas[i].Subject.String(), made once
}

// NewTrust builds a Trust from CA certificates.
func NewTrust(cas []*x509.Certificate) *Trust {
	t := &Trust{}
	for _, ca := range cas {
		t.cas = append(t.cas, ca)
		t.ids = append(t.ids, issuerID(ca))
		t.names = append(t.names, ca.Subject.String())
	}
	return t
}

func issuerID(ca *x509.Certificate) IssuerID {
	sum := sha256.Sum256(append(append([]byte{}, ca.RawSubject...), ca.RawSubjectPublicKeyInfo...))
	return IssuerID(hex.EncodeToString(sum[:8]))
}

// id returns the ID of the trusted CA with ca's subject and key: ca may be
// another certificate of that CA (renewed with the same key).
func (t *Trust) id(ca *x509.Certificate) (IssuerID, bool) {
	id := issuerID(ca)
	if slices.Contains(t.ids, id) {
		return id, true
	}
	return "", false
}

// only returns the ID of the one trusted CA, when there is exactly one.
func (t *Trust) only() (IssuerID, bool) {
	if len(t.ids) != 1 {
		return "", false
	}
	return t.ids[0], true
}

// LoadTrust reads PEM bundles of CA certificates.
func LoadTrust(files []string) (*Trust, error) {
	var cas []*x509.Certificate
	var errs []error
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("trust.ca_files[%d]: %w", i, err))
			continue
		}
		found, err := parseCAs(data)
		if err != nil {
			errs = append(errs, fmt.Errorf("trust.ca_files[%d]: %s: %w", i, f, err))
			continue
		}
		cas = append(cas, found...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return NewTrust(cas), nil
}

func parseCAs(data []byte) ([]*x509.Certificate, error) {
	var cas []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			// A key or anything else in a trust bundle is not ours to read.
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		if !c.IsCA {
			return nil, fmt.Errorf("%q is not a CA certificate", c.Subject.String())
		}
		cas = append(cas, c)
	}
	if len(cas) == 0 {
		return nil, errors.New("no PEM CERTIFICATE found")
	}
	return cas, nil
}

// Issuer returns the trusted CA whose signature on c verifies.
func (t *Trust) Issuer(c *x509.Certificate) (IssuerID, bool) {
	for i, ca := range t.cas {
		if bytes.Equal(c.RawIssuer, ca.RawSubject) && c.CheckSignatureFrom(ca) == nil {
			return t.ids[i], true
		}
	}
	return "", false
}

// CRLIssuer returns the trusted CA whose signature on the CRL verifies.
func (t *Trust) CRLIssuer(crl *x509.RevocationList) (IssuerID, bool) {
	for i, ca := range t.cas {
		if bytes.Equal(crl.RawIssuer, ca.RawSubject) && crl.CheckSignatureFrom(ca) == nil {
			return t.ids[i], true
		}
	}
	return "", false
}

// Fingerprint names the whole trust set: the SHA-256 over the SHA-256 of each
// CA certificate, in order. Whatever is judged against the set (which CA
// issued a certificate) holds for as long as the fingerprint does.
func (t *Trust) Fingerprint() [32]byte {
	h := sha256.New()
	for _, ca := range t.cas {
		sum := sha256.Sum256(ca.Raw)
		h.Write(sum[:])
	}
	var fp [32]byte
	h.Sum(fp[:0])
	return fp
}

// Name is the subject of the CA with that ID, for people.
func (t *Trust) Name(id IssuerID) string {
	for i, x := range t.ids {
		if x == id {
			return t.names[i]
		}
	}
	return ""
}
