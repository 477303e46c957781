package catest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// IssueMany issues one S/MIME certificate per address in Go, signed with the
// CA's key, and records them exactly as `openssl ca` does (index.txt line,
// newcerts/SERIAL.pem): for tests that need hundreds of certificates, where
// one openssl process per certificate would take minutes. Issue is the
// reference; TestIssueManyMatchesOpenSSL keeps the two alike.
func (ca *CA) IssueMany(t testing.TB, emails []string, notBefore, notAfter time.Time) []Issued {
	t.Helper()
	signer := ca.key(t)
	lock, err := os.OpenFile(filepath.Join(ca.Dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("catest: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("catest: lock: %v", err)
	}
	index, err := os.OpenFile(filepath.Join(ca.Dir, "index.txt"), os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("catest: %v", err)
	}
	defer index.Close()
	if err := os.MkdirAll(ca.KeyDir, 0o700); err != nil {
		t.Fatalf("catest: %v", err)
	}
	out := make([]Issued, 0, len(emails))
	var lines strings.Builder
	for _, email := range emails {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatalf("catest: %v", err)
		}
		// Positive 63-bit serial with a non-zero top nibble: 16 hex digits, as the script makes.
		n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 59))
		serial := n.Add(n, new(big.Int).Lsh(big.NewInt(1), 60))
		local, _, _ := strings.Cut(email, "@")
		tmpl := &x509.Certificate{
			SerialNumber: serial, Subject: pkix.Name{CommonName: local}, EmailAddresses: []string{email},
			NotBefore: notBefore.UTC().Truncate(time.Second), NotAfter: notAfter.UTC().Truncate(time.Second),
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, signer)
		if err != nil {
			t.Fatalf("catest: %v", err)
		}
		hex := strings.ToUpper(serial.Text(16))
		is := Issued{Serial: hex, DER: der,
			KeyFile:  filepath.Join(ca.KeyDir, hex+".key"),
			CertFile: filepath.Join(ca.Dir, "newcerts", hex+".pem")}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatalf("catest: %v", err)
		}
		writePEM(t, is.KeyFile, "PRIVATE KEY", keyDER, 0o600)
		writePEM(t, is.CertFile, "CERTIFICATE", der, 0o644)
		fmt.Fprintf(&lines, "V\t%s\t\t%s\tunknown\t/CN=%s\n", indexTime(tmpl.NotAfter), hex, local)
		out = append(out, is)
	}
	if _, err := index.WriteString(lines.String()); err != nil {
		t.Fatalf("catest: append index.txt: %v", err)
	}
	return out
}

// indexTime is openssl's index.txt date: UTCTime before 2050, GeneralizedTime after.
func indexTime(t time.Time) string {
	if t.Year() >= 2050 {
		return t.Format("20060102150405Z")
	}
	return t.Format("060102150405Z")
}

func (ca *CA) key(t testing.TB) crypto.Signer {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ca.Dir, "private", "ca.key"))
	if err != nil {
		t.Fatalf("catest: %v", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("catest: private/ca.key: no PEM block")
	}
	var k any
	switch block.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		t.Fatalf("catest: private/ca.key: %v", err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		t.Fatalf("catest: private/ca.key: %T cannot sign", k)
	}
	return s
}

func writePEM(t testing.TB, path, typ string, der []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		t.Fatalf("catest: %v", err)
	}
}
