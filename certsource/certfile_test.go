package certsource

import (
	"bytes"
	"encoding/pem"
	"testing"
	"time"
)

// certFileSeeds are certificate files of each shape a CA store holds or a
// file may be turned into: openssl's (text before the PEM block), CRLF line
// ends, DER, headers, spaces, a block of another type first, two blocks,
// one cut short, a key beside the certificate.
func certFileSeeds(t testing.TB) map[string][]byte {
	trust, _, _ := crlFixture(t, time.Now().Add(time.Hour))
	der := trust.cas[0].Raw
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	crl := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte("crl")})
	key := []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
	return map[string][]byte{
		"pem":               p,
		"text and pem":      append([]byte("Certificate:\n    Data:\n        Version: 3 (0x2)\n"), p...),
		"crlf":              bytes.ReplaceAll(p, []byte("\n"), []byte("\r\n")),
		"der":               der,
		"headers":           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"Comment": "x"}, Bytes: der}),
		"spaces":            bytes.ReplaceAll(p, []byte("\n"), []byte(" \n")),
		"crl first":         append(crl, p...),
		"two":               append(bytes.Clone(p), p...),
		"cut short":         p[:len(p)/2],
		"key after":         append(bytes.Clone(p), key...),
		"no newline at end": bytes.TrimSuffix(p, []byte("\n")),
		"begin mid-line":    append([]byte("x"), p...),
		"empty block":       []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"),
		"text after":        append(bytes.Clone(p), "trailer\n"...),
	}
}

// TestAppendCertificateFindsWhatDecodeFinds: appending a file's certificate
// to a buffer finds what decodeCertificate finds in it, after what the
// buffer held, and leaves the buffer as it was when there is none.
func TestAppendCertificateFindsWhatDecodeFinds(t *testing.T) {
	for name, data := range certFileSeeds(t) {
		t.Run(name, func(t *testing.T) { checkAppendCertificate(t, data) })
	}
}

// FuzzAppendCertificate: whatever a certificate file holds, appendCertificate
// finds what decodeCertificate finds, or fails as it does.
func FuzzAppendCertificate(f *testing.F) {
	for _, data := range certFileSeeds(f) {
		f.Add(data)
	}
	f.Fuzz(checkAppendCertificate)
}

func checkAppendCertificate(t *testing.T, data []byte) {
	prefix := []byte("held before")
	dst := append(make([]byte, 0, 64), prefix...)
	got, err := appendCertificate(dst, data)
	der, want := decodeCertificate(data)
	switch {
	case (err == nil) != (want == nil):
		t.Fatalf("appendCertificate: %v; decodeCertificate: %v", err, want)
	case err != nil && (err.Error() != want.Error() || !bytes.Equal(got, prefix)):
		t.Fatalf("appendCertificate: %q, %v; want %q, %v", got, err, prefix, want)
	case err == nil && !bytes.Equal(got, append(prefix, der...)):
		t.Fatalf("appendCertificate: %x; want %x after %q", got, der, prefix)
	}
}

// TestAppendCertificateOfOpenSSLsFileAllocatesNothing: the certificate of a
// file as openssl writes it is decoded into the caller's buffer, nothing
// else: a publish reads again each certificate it writes.
func TestAppendCertificateOfOpenSSLsFileAllocatesNothing(t *testing.T) {
	for _, name := range []string{"pem", "text and pem", "crlf"} {
		data := certFileSeeds(t)[name]
		buf := make([]byte, 0, len(data))
		allocs := testing.AllocsPerRun(10, func() {
			if _, err := appendCertificate(buf, data); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations", name, allocs)
		}
	}
}
