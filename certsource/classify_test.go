package certsource

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "folder", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClassifyFile(t *testing.T) {
	ca := newTestCA(t, "Classify CA")
	alice := ca.issue(t, "alice@corp.example")
	bob := ca.issue(t, "bob@corp.example")
	degenerate, err := pkcs7.DegenerateCertificate(append(append([]byte{}, alice.Raw...), bob.Raw...))
	if err != nil {
		t.Fatal(err)
	}
	crl := ca.crl(t, time.Now(), time.Now().Add(time.Hour), alice.SerialNumber)

	tests := []struct {
		name      string
		file      string
		data      []byte
		refused   string
		certs     int
		crls      int
		problems  []string
		fromFixed bool
	}{
		{name: "PEM", file: "a.pem", data: certPEM(alice), certs: 1},
		{name: "PEM bundle with text around", file: "a.crt", data: append(append([]byte("subject=alice\n"), certPEM(alice, bob)...), "trailer\n"...), certs: 2},
		{name: "DER .cer", file: "a.cer", data: alice.Raw, certs: 1},
		{name: "DER without a known name", file: "cert", data: alice.Raw, certs: 1},
		{name: "DER PKCS#7", file: "b.p7b", data: degenerate, certs: 2},
		{name: "PEM PKCS#7", file: "b.p7c", data: pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: degenerate}), certs: 2},
		{name: "DER CRL", file: "ca.crl", data: crl, crls: 1},
		{name: "PEM CRL", file: "ca.crl.pem", data: pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl}), crls: 1},
		{name: "openssl DER certificate", file: "alice.cer", fromFixed: true, certs: 1},
		{name: "openssl p7b with chain", file: "alice-chain.p7b", fromFixed: true, certs: 2},
		{name: "openssl PEM p7c", file: "alice.p7c", fromFixed: true, certs: 1},
		{name: "PKCS#12 by name", file: "alice.p12", fromFixed: true, refused: ReasonRefusedPKCS12},
		{name: "PKCS#12 by content", file: "alice-p12.bin", fromFixed: true, refused: ReasonRefusedPKCS12},
		{name: ".pfx whatever it holds", file: "x.pfx", data: alice.Raw, refused: ReasonRefusedPKCS12},
		{name: "certificate and key", file: "alice-with-key.pem", fromFixed: true, refused: ReasonRefusedPrivateKey},
		{name: "EC PRIVATE KEY", file: "ec-key.pem", fromFixed: true, refused: ReasonRefusedPrivateKey},
		{name: "ENCRYPTED PRIVATE KEY", file: "encrypted-key.pem", fromFixed: true, refused: ReasonRefusedPrivateKey},
		{name: "DER private key", file: "alice-key.der", fromFixed: true, refused: ReasonRefusedPrivateKey},
		{name: "text", file: "README.txt", data: []byte("drop certificates here\n"), problems: []string{ReasonUnknownFile}},
		{name: "empty", file: "empty.pem", data: nil, problems: []string{ReasonUnknownFile}},
		{name: "CSR next to a certificate", file: "c.pem", data: append(certPEM(alice), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0}})...), certs: 1, problems: []string{ReasonUnknownFile}},
		{name: "broken PEM certificate", file: "d.pem", data: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: alice.Raw[:100]}), problems: []string{ReasonBadCertificate}},
		{name: "truncated DER", file: "e.der", data: alice.Raw[:len(alice.Raw)-10], problems: []string{ReasonUnknownFile}},
		{name: "broken PKCS#7", file: "f.p7b", data: degenerate[:len(degenerate)/2], problems: []string{ReasonUnknownFile}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data
			if tt.fromFixed {
				data = readFixture(t, tt.file)
			}
			got := classifyFile(tt.file, data)
			if got.refused != tt.refused || len(got.certs) != tt.certs || len(got.crls) != tt.crls {
				t.Errorf("refused %q, %d certs, %d CRLs; want %q, %d, %d (problems %v)",
					got.refused, len(got.certs), len(got.crls), tt.refused, tt.certs, tt.crls, got.problems)
			}
			var reasons []string
			for _, p := range got.problems {
				reasons = append(reasons, p.reason)
			}
			if len(reasons) != len(tt.problems) {
				t.Errorf("problems %v, want %v", got.problems, tt.problems)
			}
			for i := range min(len(reasons), len(tt.problems)) {
				if reasons[i] != tt.problems[i] {
					t.Errorf("problem %d: %q, want %q", i, reasons[i], tt.problems[i])
				}
			}
		})
	}
}

// FuzzClassifyFile feeds the drop-folder classifier arbitrary files: it must
// never panic, a refused file yields nothing else, and nothing that looks like
// key material is ever let through as a certificate source.
func FuzzClassifyFile(f *testing.F) {
	seeds, err := filepath.Glob("../testdata/folder/*")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(filepath.Base(s), data)
	}
	f.Add("x.pem", []byte("-----BEGIN PKCS7-----\nMAA=\n-----END PKCS7-----\n"))
	f.Add("x.der", []byte{0x30, 0x03, 0x02, 0x01, 0x03})
	f.Add("x.der", []byte{0x30, 0x05, 0x06, 0x03, 0x2a, 0x86, 0x48})
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		got := classifyFile(name, data)
		if got.refused != "" && (len(got.certs) > 0 || len(got.crls) > 0 || len(got.problems) > 0) {
			t.Fatalf("refused file (%s) also yielded %d certs, %d CRLs, %d problems", got.refused, len(got.certs), len(got.crls), len(got.problems))
		}
		if bytes.Contains(data, []byte("PRIVATE KEY-----")) && got.refused == "" {
			t.Fatal("a file with a PRIVATE KEY block was not refused")
		}
		for _, p := range got.problems {
			if p.err == nil || p.reason == "" {
				t.Fatalf("problem without reason or error: %+v", p)
			}
		}
		for _, c := range got.certs {
			if c == nil || len(c.Raw) == 0 {
				t.Fatal("nil certificate")
			}
		}
	})
}

// FuzzParsePKCS7 feeds the PKCS#7 reader arbitrary input: errors are fine,
// panics are not, and success always brings something.
func FuzzParsePKCS7(f *testing.F) {
	for _, name := range []string{"alice-chain.p7b", "alice.p12"} {
		f.Add(readFixture(f, name))
	}
	if block, _ := pem.Decode(readFixture(f, "alice.p7c")); block != nil {
		f.Add(block.Bytes)
	}
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, crls, err := ParsePKCS7(data)
		if err == nil && len(certs) == 0 && len(crls) == 0 {
			t.Fatal("no error and nothing parsed")
		}
		if err != nil && (certs != nil || crls != nil) {
			t.Fatal("error with results")
		}
	})
}
