package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/certgal/certgal/internal/parallel"
)

// authority is a CA the generator signs with.
type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// newAuthority creates a self-signed P-256 CA named subject.
func newAuthority(subject pkix.Name, now time.Time) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 63))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: subject,
		NotBefore: now.Add(-5 * 365 * day), NotAfter: now.Add(10 * 365 * day),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key}, nil
}

// authorities are the CAs of the generated world.
type authorities struct {
	ours, foreign, lookalike *authority
}

func newAuthorities(now time.Time) (*authorities, error) {
	ourName := pkix.Name{CommonName: "certgal-gen S/MIME CA", Organization: []string{"certgal scale test"}}
	var a authorities
	var err error
	if a.ours, err = newAuthority(ourName, now); err != nil {
		return nil, err
	}
	if a.foreign, err = newAuthority(pkix.Name{CommonName: "Partner S/MIME CA", Organization: []string{"Partner Corp"}}, now); err != nil {
		return nil, err
	}
	// Same subject DN as ours, another key: certgal must not take its values for its own.
	if a.lookalike, err = newAuthority(ourName, now); err != nil {
		return nil, err
	}
	return &a, nil
}

// smimePolicy is the CA/Browser Forum's individual-validated, strict S/MIME policy.
var smimePolicy = asn1.ObjectIdentifier{2, 23, 140, 1, 5, 4, 3}

// keyReuse is how many certificates share one leaf key: generating a P-256
// key per certificate would cost as much again as signing, and nothing certgal
// does depends on keys being distinct.
const keyReuse = 1000

// issueAll signs every certificate of all on all cores, and writes our CA's as
// newcerts/SERIAL.pem under caDir. It stops at the first error.
func issueAll(all []*certSpec, cas *authorities, caDir string, workers int) error {
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	chunks := (len(all) + keyReuse - 1) / keyReuse
	parallel.Each(ctx, chunks, parallel.Options{Workers: workers}, func(i int) {
		start := i * keyReuse
		if err := issueChunk(all[start:min(start+keyReuse, len(all))], cas, caDir); err != nil {
			stop(err)
		}
	})
	return context.Cause(ctx)
}

// issueChunk signs certs with one fresh leaf key.
func issueChunk(certs []*certSpec, cas *authorities, caDir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	for _, c := range certs {
		// The extensions a public S/MIME CA puts in (CRL, OCSP, policy), so a
		// value is as large as a real one.
		tmpl := &x509.Certificate{
			SerialNumber:          c.serial,
			Subject:               pkix.Name{CommonName: c.cn, Organization: []string{"Example Corp"}, OrganizationalUnit: []string{"Staff"}},
			EmailAddresses:        []string{c.email},
			NotBefore:             c.notBefore,
			NotAfter:              c.notAfter,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
			CRLDistributionPoints: []string{"http://pki.example.com/crl/smime.crl"},
			OCSPServer:            []string{"http://ocsp.example.com"},
			IssuingCertificateURL: []string{"http://pki.example.com/smime-ca.crt"},
			PolicyIdentifiers:     []asn1.ObjectIdentifier{smimePolicy},
		}
		if c.role == roleUnusable {
			tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}
		var parent *x509.Certificate
		var signer crypto.Signer
		switch c.issuer {
		case issuerOurs:
			parent, signer = cas.ours.cert, cas.ours.key
		case issuerForeign:
			parent, signer = cas.foreign.cert, cas.foreign.key
		case issuerLookalike:
			parent, signer = cas.lookalike.cert, cas.lookalike.key
		case issuerSelf:
			parent, signer = tmpl, key
		}
		c.der, err = x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
		if err != nil {
			return fmt.Errorf("issue %s: %w", c.email, err)
		}
		if c.issuer == issuerOurs {
			f := filepath.Join(caDir, "newcerts", serialHex(c.serial)+".pem")
			if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// serialHex is how `openssl ca` names a serial: upper-case hex, an even number of digits.
func serialHex(n *big.Int) string {
	s := strings.ToUpper(n.Text(16))
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return s
}

// indexTime is index.txt's date: UTCTime before 2050, GeneralizedTime after.
func indexTime(t time.Time) string {
	if t.UTC().Year() >= 2050 {
		return t.UTC().Format("20060102150405Z")
	}
	return t.UTC().Format("060102150405Z")
}

// writeCA writes everything of an `openssl ca` directory but newcerts/, which
// issueAll fills: ca.pem, private/ca.key, index.txt (+.attr), serial,
// crlnumber and crl.pem with every revoked certificate.
func writeCA(dir string, p *population, ca *authority, now time.Time) error {
	if err := writePEM(filepath.Join(dir, "ca.pem"), "CERTIFICATE", ca.cert.Raw, 0o644); err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		return err
	}
	if err := writePEM(filepath.Join(dir, "private", "ca.key"), "PRIVATE KEY", keyDER, 0o600); err != nil {
		return err
	}
	var revoked []x509.RevocationListEntry
	for _, c := range p.ours {
		if c.indexStatus == 'R' {
			revoked = append(revoked, x509.RevocationListEntry{SerialNumber: c.serial, RevocationTime: c.revokedAt, ReasonCode: 1})
		}
	}
	if err := writeIndex(dir, p.ours); err != nil {
		return err
	}
	for name, content := range map[string]string{
		"index.txt.attr": "unique_subject = no\n",
		"crlnumber":      "02\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	// A month of validity, so a store generated today still has a fresh CRL
	// when tried next week (a stale CRL freezes the issuer: nothing is written).
	crl, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(30 * day),
		RevokedCertificateEntries: revoked,
	}, ca.cert, ca.key)
	if err != nil {
		return fmt.Errorf("CRL: %w", err)
	}
	return writePEM(filepath.Join(dir, "crl.pem"), "X509 CRL", crl, 0o644)
}

// writeIndex writes index.txt, one line per certificate in the order given, and serial, the
// serial after the last one, as `openssl ca` leaves them.
func writeIndex(dir string, certs []*certSpec) error {
	var index strings.Builder
	for _, c := range certs {
		rev := ""
		if c.indexStatus == 'R' {
			rev = indexTime(c.revokedAt) + ",keyCompromise"
		}
		fmt.Fprintf(&index, "%c\t%s\t%s\t%s\tunknown\t/CN=%s\n", c.indexStatus, indexTime(c.notAfter), rev, serialHex(c.serial), c.cn)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.txt"), []byte(index.String()), 0o644); err != nil {
		return err
	}
	next := new(big.Int).Add(certs[len(certs)-1].serial, big.NewInt(1))
	return os.WriteFile(filepath.Join(dir, "serial"), []byte(serialHex(next)+"\n"), 0o644)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}
