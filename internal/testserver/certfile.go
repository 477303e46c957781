package testserver

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"testing"
)

// ReadCertFile reads the certificate a script or server wrote to path as PEM (the first block);
// a file that does not hold one fails t.
func ReadCertFile(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s: no PEM certificate", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cert
}
