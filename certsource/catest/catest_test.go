package catest

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// indexLine is one line of index.txt: status, expiry, revocation[,reason], serial, file, subject.
type indexLine struct {
	status, expiry, revocation, serial, subject string
}

func readIndex(t *testing.T, ca *CA) map[string]indexLine {
	t.Helper()
	f, err := os.Open(filepath.Join(ca.Dir, "index.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := map[string]indexLine{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 6 {
			t.Fatalf("index.txt line %q has %d fields", sc.Text(), len(fields))
		}
		lines[fields[3]] = indexLine{fields[0], fields[1], fields[2], fields[3], fields[5]}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

func parse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func serialHex(c *x509.Certificate) string {
	s := fmt.Sprintf("%X", c.SerialNumber)
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return s
}

func TestIssue(t *testing.T) {
	ca := New(t, "")
	if ca.Cert.Subject.CommonName != "certgal Test CA" || !ca.Cert.IsCA {
		t.Fatalf("CA: CN %q, IsCA %v", ca.Cert.Subject.CommonName, ca.Cert.IsCA)
	}
	if info, err := os.Stat(filepath.Join(ca.Dir, "private", "ca.key")); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("private/ca.key: %v, %v", info, err)
	}

	const email = "o'brien+x@example.com"
	start := time.Now()
	is := ca.Issue(t, email)
	t.Logf("issue took %v", time.Since(start))
	cert := parse(t, is.DER)

	if !slices.Equal(cert.EmailAddresses, []string{email}) {
		t.Errorf("SAN emails = %q, want [%q]", cert.EmailAddresses, email)
	}
	if cert.Subject.CommonName != "o'brien+x" || len(cert.Subject.Names) != 1 {
		t.Errorf("subject = %v, want only CN=o'brien+x", cert.Subject)
	}
	if !slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}) {
		t.Errorf("EKU = %v, want emailProtection", cert.ExtKeyUsage)
	}
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Errorf("default key is %T, want ECDSA", cert.PublicKey)
	}
	if want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement; cert.KeyUsage != want {
		t.Errorf("EC key usage = %b, want %b", cert.KeyUsage, want)
	}
	if cert.IsCA || !cert.BasicConstraintsValid {
		t.Errorf("basicConstraints: IsCA %v valid %v", cert.IsCA, cert.BasicConstraintsValid)
	}
	if _, err := cert.Verify(x509.VerifyOptions{
		Roots:     certPool(ca.Cert),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}); err != nil {
		t.Errorf("verify against the CA: %v", err)
	}

	if got := serialHex(cert); got != is.Serial {
		t.Errorf("certificate serial %s, Issue returned %s", got, is.Serial)
	}
	line, ok := readIndex(t, ca)[is.Serial]
	if !ok || line.status != "V" {
		t.Errorf("index.txt line for %s: %+v, want status V", is.Serial, line)
	}
	if is.CertFile != filepath.Join(ca.Dir, "newcerts", is.Serial+".pem") {
		t.Errorf("CertFile = %s", is.CertFile)
	}

	// The key must exist, match, and live outside the CA directory.
	if strings.HasPrefix(is.KeyFile, ca.Dir+string(filepath.Separator)) {
		t.Errorf("key %s is inside the CA directory", is.KeyFile)
	}
	keyPEM, err := os.ReadFile(is.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		t.Fatalf("%s: no PEM", is.KeyFile)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !key.(*ecdsa.PrivateKey).PublicKey.Equal(cert.PublicKey) {
		t.Error("key file does not match the certificate")
	}
	filepath.WalkDir(ca.Dir, func(path string, d os.DirEntry, err error) error {
		if strings.HasSuffix(path, ".key") && path != filepath.Join(ca.Dir, "private", "ca.key") {
			t.Errorf("key file in the CA directory: %s", path)
		}
		return nil
	})

	second := ca.Issue(t, "second@example.com")
	if second.Serial == is.Serial {
		t.Errorf("two certificates share serial %s", is.Serial)
	}
}

func TestIssueVariants(t *testing.T) {
	ca := New(t, "Variants CA")

	rsaCert := parse(t, ca.Issue(t, "rsa@example.com", WithKey("rsa")).DER)
	if _, ok := rsaCert.PublicKey.(*rsa.PublicKey); !ok {
		t.Errorf("WithKey(rsa) gave %T", rsaCert.PublicKey)
	}
	if want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment; rsaCert.KeyUsage != want {
		t.Errorf("RSA key usage = %b, want %b", rsaCert.KeyUsage, want)
	}

	server := parse(t, ca.Issue(t, "server@example.com", WithExt("server")).DER)
	if !slices.Equal(server.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("server EKU = %v, want serverAuth only", server.ExtKeyUsage)
	}
	if !slices.Equal(server.EmailAddresses, []string{"server@example.com"}) {
		t.Errorf("server SAN emails = %q", server.EmailAddresses)
	}

	sign := parse(t, ca.Issue(t, "sign@example.com", WithExt("signonly")).DER)
	if sign.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("signonly key usage = %b, want digitalSignature only", sign.KeyUsage)
	}
	if !slices.Equal(sign.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}) {
		t.Errorf("signonly EKU = %v", sign.ExtKeyUsage)
	}
}

func TestValidity(t *testing.T) {
	ca := New(t, "")
	now := time.Now()

	start, end := now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0)
	expired := ca.Issue(t, "old@example.com", WithValidity(start, end))
	c := parse(t, expired.DER)
	if !c.NotAfter.Before(now) {
		t.Errorf("expired certificate: notAfter %v is not in the past", c.NotAfter)
	}
	if !c.NotBefore.Equal(start.UTC().Truncate(time.Second)) || !c.NotAfter.Equal(end.UTC().Truncate(time.Second)) {
		t.Errorf("validity %v..%v, want %v..%v", c.NotBefore, c.NotAfter, start, end)
	}
	// The CA's own validity covers it, so a verification as of then succeeds.
	if _, err := c.Verify(x509.VerifyOptions{Roots: certPool(ca.Cert), CurrentTime: start.Add(time.Hour),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}}); err != nil {
		t.Errorf("verify as of notBefore: %v", err)
	}

	future := parse(t, ca.Issue(t, "future@example.com", WithValidity(now.AddDate(0, 1, 0), now.AddDate(1, 0, 0))).DER)
	if !future.NotBefore.After(now) {
		t.Errorf("future certificate: notBefore %v is not in the future", future.NotBefore)
	}

	if got := readIndex(t, ca)[expired.Serial].status; got != "V" {
		t.Errorf("before updatedb: status %q, want V", got)
	}
	ca.UpdateDB(t)
	idx := readIndex(t, ca)
	if got := idx[expired.Serial].status; got != "E" {
		t.Errorf("after updatedb: expired status %q, want E", got)
	}
	if got := idx[serialHex(future)].status; got != "V" {
		t.Errorf("after updatedb: future status %q, want V", got)
	}
}

func TestRevokeAndCRL(t *testing.T) {
	ca := New(t, "")
	keep := ca.Issue(t, "keep@example.com")
	gone := ca.Issue(t, "gone@example.com")
	plain := ca.Issue(t, "plain@example.com")
	ca.Revoke(t, strings.ToLower(gone.Serial), "keyCompromise") // any case is accepted
	ca.Revoke(t, plain.Serial, "")

	idx := readIndex(t, ca)
	if l := idx[gone.Serial]; l.status != "R" || !strings.HasSuffix(l.revocation, ",keyCompromise") {
		t.Errorf("revoked line: %+v, want R with keyCompromise", l)
	}
	if l := idx[plain.Serial]; l.status != "R" || strings.Contains(l.revocation, ",") {
		t.Errorf("revoked line without reason: %+v", l)
	}
	if l := idx[keep.Serial]; l.status != "V" {
		t.Errorf("unrevoked line: %+v", l)
	}

	for _, der := range []bool{false, true} {
		t.Run(fmt.Sprintf("der=%v", der), func(t *testing.T) {
			path := ca.CRL(t, der)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !der {
				block, _ := pem.Decode(b)
				if block == nil || block.Type != "X509 CRL" {
					t.Fatalf("%s: no X509 CRL PEM block", path)
				}
				b = block.Bytes
			} else if b[0] != 0x30 {
				t.Fatalf("%s: not DER", path)
			}
			crl, err := x509.ParseRevocationList(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := crl.CheckSignatureFrom(ca.Cert); err != nil {
				t.Errorf("CRL signature: %v", err)
			}
			reasons := map[string]int{}
			for _, e := range crl.RevokedCertificateEntries {
				reasons[fmt.Sprintf("%X", e.SerialNumber)] = e.ReasonCode
			}
			if len(reasons) != 2 {
				t.Errorf("CRL lists %d serials, want 2", len(reasons))
			}
			if r, ok := reasons[gone.Serial]; !ok || r != 1 { // keyCompromise
				t.Errorf("CRL entry for %s: listed %v, reason %d, want 1", gone.Serial, ok, r)
			}
			if _, ok := reasons[plain.Serial]; !ok {
				t.Errorf("CRL does not list %s", plain.Serial)
			}
			if crl.Number == nil || crl.NextUpdate.Before(time.Now()) {
				t.Errorf("CRL number %v, next update %v", crl.Number, crl.NextUpdate)
			}
		})
	}
}

func TestNameWithSpecialCharacters(t *testing.T) {
	ca := New(t, "Acme/Test + CA, O'Reilly")
	if got := ca.Cert.Subject.CommonName; got != "Acme/Test + CA, O'Reilly" {
		t.Errorf("CA CN = %q", got)
	}
	// The subject must be a single CN, not split at "/" or "+".
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(ca.Cert.RawSubject, &rdns); err != nil || len(rdns) != 1 || len(rdns[0]) != 1 {
		t.Errorf("CA subject has %d RDNs (%v), want 1 with 1 value", len(rdns), err)
	}
}

func certPool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// TestIssueManyMatchesOpenSSL checks that the Go fast path leaves the CA as
// `openssl ca` would: openssl itself can revoke what IssueMany issued, and the
// index lines have the same shape as the script's.
func TestIssueManyMatchesOpenSSL(t *testing.T) {
	ca := New(t, "Bulk CA")
	ref := ca.Issue(t, "ref@corp.example")
	now := time.Now()
	many := ca.IssueMany(t, []string{"a@corp.example", "b@corp.example"}, now.Add(-time.Hour), now.Add(24*time.Hour))
	if len(many) != 2 {
		t.Fatalf("issued %d", len(many))
	}
	for _, is := range many {
		c, err := x509.ParseCertificate(is.DER)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.CheckSignatureFrom(ca.Cert); err != nil {
			t.Errorf("%s: %v", is.Serial, err)
		}
		if len(is.Serial) != len(ref.Serial) {
			t.Errorf("serial %s has another length than openssl's %s", is.Serial, ref.Serial)
		}
	}
	ca.Revoke(t, many[1].Serial, "keyCompromise")
	index, err := os.ReadFile(filepath.Join(ca.Dir, "index.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(index)), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "R\t") || !strings.HasPrefix(lines[1], "V\t") {
		t.Errorf("index.txt after openssl revoked a bulk certificate:\n%s", index)
	}
	for _, l := range lines {
		if f := strings.Split(l, "\t"); len(f) != 6 || len(f[1]) != 13 {
			t.Errorf("index line %q does not look like openssl's", l)
		}
	}
}

// What certgal relies on in easy-rsa 3.1: `sign-req email` makes a certificate
// usable for mail encryption, and `revoke` moves it under revoked/.
func TestEasyRSAIssuesForEncryptionAndRevokeMovesTheCertificate(t *testing.T) {
	e := NewEasyRSA(t, "Corp Easy CA")
	a := e.Issue(t, "alice", "alice@corp.example")
	c, err := x509.ParseCertificate(a.DER)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.PublicKey.(*rsa.PublicKey); !ok || c.KeyUsage&x509.KeyUsageKeyEncipherment == 0 ||
		!slices.Contains(c.ExtKeyUsage, x509.ExtKeyUsageEmailProtection) {
		t.Errorf("email certificate: key %T, key usage %b, EKU %v", c.PublicKey, c.KeyUsage, c.ExtKeyUsage)
	}
	if !slices.Equal(c.EmailAddresses, []string{"alice@corp.example"}) {
		t.Errorf("SAN rfc822Name %v", c.EmailAddresses)
	}
	bySerial := filepath.Join(e.PKI, "certs_by_serial", a.Serial+".pem")
	if _, err := os.Stat(bySerial); err != nil {
		t.Errorf("issued certificate not in certs_by_serial/: %v", err)
	}

	e.Revoke(t, "alice", "keyCompromise")
	for _, gone := range []string{a.CertFile, bySerial, a.KeyFile} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s after revoke: %v, want it moved away", gone, err)
		}
	}
	moved := filepath.Join(e.PKI, "revoked", "certs_by_serial", a.Serial+".crt")
	if b, err := os.ReadFile(moved); err != nil || !strings.Contains(string(b), "BEGIN CERTIFICATE") {
		t.Errorf("revoked certificate at %s: %v", moved, err)
	}
	index, err := os.ReadFile(filepath.Join(e.PKI, "index.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(index), ",keyCompromise\t"+a.Serial+"\t") || !strings.HasPrefix(string(index), "R\t") {
		t.Errorf("index.txt after revoke:\n%s", index)
	}
	if crl := e.GenCRL(t); crl == "" {
		t.Error("no CRL")
	} else if b, err := os.ReadFile(crl); err != nil || !strings.Contains(string(b), "BEGIN X509 CRL") {
		t.Errorf("CRL %s: %v", crl, err)
	}
}
