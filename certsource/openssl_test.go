package certsource

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/certsource/catest"
	"github.com/certgal/certgal/config"
)

func newOpenSSL(t testing.TB, ca *catest.CA, crls ...string) (*OpenSSL, *test.Hook) {
	t.Helper()
	trust, err := LoadTrust([]string{ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	log, hook := test.NewNullLogger()
	return NewOpenSSL(config.OpenSSL{Dir: ca.Dir, CRLFiles: crls}, trust, log), hook
}

// serialOf is what an Inspect that parses returns: der's serial number.
func serialOf(der []byte) (string, error) {
	x, err := x509.ParseCertificate(der)
	if err != nil {
		return "", err
	}
	return SerialHex(x.SerialNumber), nil
}

// readUnparsed is src.ReadUnparsed with nothing to inspect; an error ends the test.
func readUnparsed(t testing.TB, src *OpenSSL) *Snapshot {
	t.Helper()
	snap, err := src.ReadUnparsed(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func serials(snap *Snapshot) []string {
	var out []string
	for _, c := range snap.Certificates {
		out = append(out, strings.ToUpper(c.Cert.SerialNumber.Text(16))+":"+c.Status.String())
	}
	sort.Strings(out)
	return out
}

func TestOpenSSLReadsIndexAndCRL(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	a := ca.Issue(t, "alice@corp.example")
	b := ca.Issue(t, "bob@corp.example")
	ca.Revoke(t, b.Serial, "keyCompromise")
	crl := ca.CRL(t, true)
	src, hook := newOpenSSL(t, ca, crl)
	snap, err := src.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{a.Serial + ":valid", b.Serial + ":revoked"}
	sort.Strings(want)
	if got := serials(snap); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("certificates %v, want %v", got, want)
	}
	for _, c := range snap.Certificates {
		if c.Status == StatusRevoked && (revokedOf(c).Reason != "keyCompromise" || revokedOf(c).At.IsZero()) {
			t.Errorf("revocation of %s: %+v", b.Serial, revokedOf(c))
		}
	}
	if len(snap.Revocations) != 1 || strings.ToUpper(snap.Revocations[0].Serial.Text(16)) != b.Serial || snap.Revocations[0].Reason != "keyCompromise" {
		t.Errorf("CRL revocations %+v", snap.Revocations)
	}
	if len(snap.Problems) != 0 || len(hook.Entries) != 0 {
		t.Errorf("problems %v, log %d lines", snap.Problems, len(hook.Entries))
	}
}

func TestOpenSSLSkipsBrokenInputAndGoesOn(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	good := ca.Issue(t, "alice@corp.example")
	broken := ca.Issue(t, "bob@corp.example")
	missing := ca.Issue(t, "carol@corp.example")
	swapped := ca.Issue(t, "dave@corp.example")
	keyed := ca.Issue(t, "erin@corp.example")
	huge := ca.Issue(t, "frank@corp.example")
	empty := ca.Issue(t, "gina@corp.example")
	// A certificate behind 2 MB of text is not read (memory), nor is an empty file.
	os.WriteFile(huge.CertFile, append(bytes.Repeat([]byte("x"), 2<<20), mustRead(t, huge.CertFile)...), 0o644)
	os.WriteFile(empty.CertFile, nil, 0o644)
	os.WriteFile(broken.CertFile, []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"), 0o644)
	os.Remove(missing.CertFile)
	os.WriteFile(swapped.CertFile, mustRead(t, good.CertFile), 0o644)
	// A key where a certificate should be: refused, and its content never logged.
	os.WriteFile(keyed.CertFile, mustRead(t, keyed.KeyFile), 0o644)
	index := filepath.Join(ca.Dir, "index.txt")
	f, _ := os.OpenFile(index, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("this is not an index line\nV\t271125120000Z\t\tZZ\tunknown\t/CN=x\n")
	f.Close()
	otherCRL := catest.New(t, "Other CA").CRL(t, false)
	badCRL := filepath.Join(t.TempDir(), "bad.crl")
	os.WriteFile(badCRL, []byte("garbage"), 0o644)

	src, hook := newOpenSSL(t, ca, otherCRL, badCRL, "does-not-exist.crl")
	snap, err := src.Read(context.Background())
	if err != nil {
		t.Fatalf("broken input must not fail the read: %v", err)
	}
	if got := serials(snap); len(got) != 1 || got[0] != good.Serial+":valid" {
		t.Errorf("certificates %v, want only %s", got, good.Serial)
	}
	want := map[string]int{"bad_index_line": 2, "bad_certificate": 4, "missing_certificate": 1, "serial_mismatch": 1, "bad_crl": 2, "missing_crl": 1}
	for k, v := range want {
		if snap.Problems[k] != v {
			t.Errorf("problem %s counted %d, want %d (all: %v)", k, snap.Problems[k], v, snap.Problems)
		}
	}
	key := string(mustRead(t, keyed.KeyFile))
	for _, e := range hook.Entries {
		if e.Level != logrus.WarnLevel || e.Data["reason"] == nil {
			t.Errorf("log line without level warning and a reason: %v", e.Data)
		}
		for _, v := range e.Data {
			if s, ok := v.(string); ok && (strings.Contains(s, "PRIVATE KEY") || strings.Contains(key, s) && len(s) > 40) {
				t.Errorf("log line carries key material: %v", e.Data)
			}
		}
	}
}

func TestOpenSSLNeverOpensPrivate(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	a := ca.Issue(t, "alice@corp.example")
	// An index line pointing into private/ (or out of the CA dir) is refused:
	// the certificate is then looked up in newcerts/ as usual.
	index := filepath.Join(ca.Dir, "index.txt")
	data := strings.Replace(string(mustRead(t, index)), "\tunknown\t", "\tprivate/ca.key\t", 1)
	os.WriteFile(index, []byte(data), 0o644)
	os.Chmod(filepath.Join(ca.Dir, "private"), 0) // root ignores this; the path check must not
	defer os.Chmod(filepath.Join(ca.Dir, "private"), 0o700)
	src, _ := newOpenSSL(t, ca, "private/crl.pem", "../outside.crl")
	snap, err := src.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Certificates) != 1 || !strings.HasSuffix(snap.Certificates[0].Origin(), "newcerts/"+a.Serial+".pem") {
		t.Errorf("certificate read from %v", snap.Certificates)
	}
	if snap.Problems["bad_crl"] != 2 {
		t.Errorf("CRL paths into private/ or out of the CA dir: problems %v", snap.Problems)
	}
	for _, p := range []string{"private/ca.key", "../x", "/etc/passwd"} {
		if got, ok := src.inside(p); ok && strings.Contains(got, "private") {
			t.Errorf("inside(%q) = %q", p, got)
		}
	}
	if _, ok := src.inside("private/../private/ca.key"); ok {
		t.Error("private/ reached through ..")
	}
}

func TestOpenSSLEasyRSALayout(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	a := ca.Issue(t, "alice@corp.example")
	// easy-rsa keeps issued/<name>.crt (with openssl's text dump before the PEM block).
	issued := filepath.Join(ca.Dir, "issued")
	os.Mkdir(issued, 0o755)
	text := append([]byte("Certificate:\n    Data: ...\n"), mustRead(t, a.CertFile)...)
	os.WriteFile(filepath.Join(issued, "alice.crt"), text, 0o644)
	os.RemoveAll(filepath.Join(ca.Dir, "newcerts"))
	src, _ := newOpenSSL(t, ca)
	snap, err := src.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := serials(snap); len(got) != 1 || got[0] != a.Serial+":valid" {
		t.Errorf("easy-rsa layout: %v", got)
	}
}

// openssl writes a serial with an even number of digits ("0A"); the
// certificate's own serial has no leading zero. Both must meet, in issued/ too.
func TestOpenSSLSerialWithLeadingZero(t *testing.T) {
	for _, layout := range []string{"newcerts", "easy-rsa"} {
		t.Run(layout, func(t *testing.T) {
			ca := catest.New(t, "Corp S/MIME CA")
			if err := os.WriteFile(filepath.Join(ca.Dir, "serial"), []byte("0A\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			a := ca.Issue(t, "alice@corp.example")
			if a.Serial != "0A" {
				t.Fatalf("issued serial %q, want 0A", a.Serial)
			}
			if layout == "easy-rsa" {
				os.Mkdir(filepath.Join(ca.Dir, "issued"), 0o755)
				os.WriteFile(filepath.Join(ca.Dir, "issued", "alice.crt"), mustRead(t, a.CertFile), 0o644)
				os.RemoveAll(filepath.Join(ca.Dir, "newcerts"))
			}
			src, _ := newOpenSSL(t, ca)
			snap, err := src.Read(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.Certificates) != 1 || len(snap.Problems) != 0 {
				t.Errorf("%d certificates, problems %v; want the one", len(snap.Certificates), snap.Problems)
			}
		})
	}
}

func TestOpenSSLParsesEachCertificateOnce(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	ca.IssueMany(t, []string{"a@corp.example", "b@corp.example"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	src, _ := newOpenSSL(t, ca)
	first, err := src.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	second, err := src.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byOrigin := map[string]*x509.Certificate{}
	for _, c := range first.Certificates {
		byOrigin[c.Origin()] = c.Cert
	}
	for _, c := range second.Certificates {
		if byOrigin[c.Origin()] != c.Cert {
			t.Errorf("%s parsed again on the second read", c.Origin())
		}
	}
}

func TestOpenSSLMissingIndexIsAnError(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	os.Remove(filepath.Join(ca.Dir, "index.txt"))
	src, _ := newOpenSSL(t, ca)
	if _, err := src.Read(context.Background()); err == nil || !strings.Contains(err.Error(), "index.txt") {
		t.Errorf("Read without index.txt: %v", err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOpenSSLParsesACRLOnceWhileItsBytesStay: an unchanged CRL file is
// parsed and verified once; new bytes are read again, and staleness is a
// matter of each read's time, not of the parse's.
func TestOpenSSLParsesACRLOnceWhileItsBytesStay(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	a := ca.Issue(t, "alice@corp.example")
	b := ca.Issue(t, "bob@corp.example")
	ca.Revoke(t, b.Serial, "keyCompromise")
	path := ca.CRL(t, false)
	src, _ := newOpenSSL(t, ca, path)
	read := func() *Snapshot { t.Helper(); return readUnparsed(t, src) }
	revoked := func(snap *Snapshot) []string {
		var out []string
		for _, r := range snap.Revocations {
			out = append(out, strings.ToUpper(r.Serial.Text(16)))
		}
		sort.Strings(out)
		return out
	}
	if got := revoked(read()); len(got) != 1 || got[0] != b.Serial {
		t.Fatalf("first read: revoked %v, want %s", got, b.Serial)
	}
	parsed := src.crls[path]
	if got := revoked(read()); len(got) != 1 || src.crls[path] != parsed {
		t.Errorf("same CRL again: revoked %v, parsed again %v", got, src.crls[path] != parsed)
	}

	ca.Revoke(t, a.Serial, "superseded")
	ca.CRL(t, false)
	want := []string{a.Serial, b.Serial}
	sort.Strings(want)
	if got := revoked(read()); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("a new CRL: revoked %v, want %v", got, want)
	}
	parsed = src.crls[path]

	// openssl-ca.sh's CRLs are good for 30 days.
	src.now = func() time.Time { return time.Now().Add(31 * 24 * time.Hour) }
	snap := read()
	if got := revoked(snap); len(got) != 2 || snap.Problems["stale_crl"] != 1 || src.crls[path] != parsed {
		t.Errorf("31 days later: revoked %v, problems %v, parsed again %v; want both revocations, stale_crl, no parse",
			got, snap.Problems, src.crls[path] != parsed)
	}
}

// TestOpenSSLDropCacheForgetsTheStore: after DropCache the source holds
// nothing of its store (files, quick read, CRLs), and reads it all again.
func TestOpenSSLDropCacheForgetsTheStore(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	ca.Issue(t, "alice@corp.example")
	b := ca.Issue(t, "bob@corp.example")
	ca.Revoke(t, b.Serial, "keyCompromise")
	src, _ := newOpenSSL(t, ca, ca.CRL(t, false))
	want := describe(t, readUnparsed(t, src))
	src.DropCache()
	if src.cache.len() != 0 || src.quick != nil || len(src.crls) != 0 {
		t.Errorf("after DropCache: %d files, quick read %v, %d CRLs kept", src.cache.len(), src.quick != nil, len(src.crls))
	}
	inspected := 0
	snap, err := src.ReadUnparsed(context.Background(), func(der []byte, _ [32]byte) (string, error) {
		inspected++
		return serialOf(der)
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := describe(t, snap); inspected != 2 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("read after DropCache: %d files inspected (want 2)\n%q\nwant\n%q", inspected, got, want)
	}
}
