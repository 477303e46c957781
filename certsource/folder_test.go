package certsource

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"github.com/smallstep/pkcs7"

	"github.com/certgal/certgal/config"
)

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func newTestFolder(t testing.TB, dir string, recursive bool, trust *Trust) (*Folder, *test.Hook) {
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	return NewFolder(config.Folder{Dir: dir, Recursive: recursive}, trust, log), hook
}

func readSnapshot(t testing.TB, src Source) *Snapshot {
	t.Helper()
	snap, err := src.Read(context.Background())
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return snap
}

func snapSerials(snap *Snapshot) []string {
	var s []string
	for _, c := range snap.Certificates {
		s = append(s, c.Cert.SerialNumber.Text(16))
	}
	return s
}

func TestFolderReadsEveryFormat(t *testing.T) {
	ca := newTestCA(t, "Folder CA")
	var certs []string
	issue := func(email string) []byte {
		c := ca.issue(t, email)
		certs = append(certs, c.SerialNumber.Text(16))
		return c.Raw
	}
	dir := t.TempDir()
	a := issue("a@corp.example")
	writeFile(t, filepath.Join(dir, "a.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a}))
	writeFile(t, filepath.Join(dir, "b.cer"), issue("b@corp.example"))
	writeFile(t, filepath.Join(dir, "c.crt"), issue("c@corp.example"))
	writeFile(t, filepath.Join(dir, "d.der"), issue("d@corp.example"))
	p7, err := pkcs7.DegenerateCertificate(append(append(append([]byte{}, issue("e@corp.example")...), ca.cert.Raw...), a...))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "e.p7b"), p7)
	p7c, err := pkcs7.DegenerateCertificate(issue("f@corp.example"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "f.p7c"), pem.EncodeToMemory(&pem.Block{Type: "PKCS7", Bytes: p7c}))
	writeFile(t, filepath.Join(dir, "sub", "deeper", "g.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: issue("g@corp.example")}))
	writeFile(t, filepath.Join(dir, ".h.pem.tmp"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.issue(t, "h@corp.example").Raw}))
	writeFile(t, filepath.Join(dir, ".hidden", "i.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.issue(t, "i@corp.example").Raw}))

	f, _ := newTestFolder(t, dir, true, ca.trust())
	snap := readSnapshot(t, f)
	// The CA certificate in the p7b is not a mail key; a is in a.pem and in the p7b once.
	if got, want := strings.Join(snapSerials(snap), " "), strings.Join(certs, " "); got != want {
		t.Errorf("recursive: serials %s, want %s", got, want)
	}
	if len(snap.Problems) != 0 || len(snap.Frozen) != 0 {
		t.Errorf("problems %v, frozen %v", snap.Problems, snap.Frozen)
	}
	for _, c := range snap.Certificates {
		if !strings.HasPrefix(c.Origin(), dir) || c.Status != StatusValid {
			t.Errorf("certificate %X: origin %q status %s", c.Cert.SerialNumber, c.Origin(), c.Status)
		}
	}

	flat, _ := newTestFolder(t, dir, false, ca.trust())
	if got := len(readSnapshot(t, flat).Certificates); got != len(certs)-1 {
		t.Errorf("not recursive: %d certificates, want %d (sub/ left out)", got, len(certs)-1)
	}
}

func TestFolderRefusesKeyMaterialWithoutLoggingIt(t *testing.T) {
	ca := newTestCA(t, "Folder CA")
	dir := t.TempDir()
	ok := ca.issue(t, "ok@corp.example")
	writeFile(t, filepath.Join(dir, "ok.pem"), certPEM(ok))
	secrets := map[string][]byte{}
	for _, name := range []string{"alice.p12", "alice-p12.bin", "alice-with-key.pem", "ec-key.pem", "encrypted-key.pem", "alice-key.der"} {
		secrets[name] = readFixture(t, name)
		writeFile(t, filepath.Join(dir, "drop", name), secrets[name])
	}
	// A PKCS#12 called .pfx is refused by name, whatever it holds.
	writeFile(t, filepath.Join(dir, "drop", "bob.pfx"), certPEM(ca.issue(t, "bob@corp.example")))

	f, hook := newTestFolder(t, dir, true, ca.trust())
	snap := readSnapshot(t, f)
	if len(snap.Certificates) != 1 || snap.Certificates[0].Hash != NewCertificate(ok, "").Hash {
		t.Errorf("certificates %v, want only ok@", snapSerials(snap))
	}
	if snap.Problems[ReasonRefusedPKCS12] != 3 || snap.Problems[ReasonRefusedPrivateKey] != 4 {
		t.Errorf("problems %v, want 3 %s and 4 %s", snap.Problems, ReasonRefusedPKCS12, ReasonRefusedPrivateKey)
	}
	var logged bytes.Buffer
	for _, e := range hook.AllEntries() {
		s, _ := e.String()
		logged.WriteString(s)
	}
	for name, data := range secrets {
		// Any 16 consecutive bytes of the file, raw or as base64, would be a leak.
		b64 := base64.StdEncoding.EncodeToString(data)
		for i := 0; i+16 <= len(data); i += 8 {
			if bytes.Contains(logged.Bytes(), data[i:i+16]) {
				t.Fatalf("log holds bytes of %s", name)
			}
		}
		for i := 0; i+16 <= len(b64); i += 8 {
			if strings.Contains(logged.String(), b64[i:i+16]) {
				t.Fatalf("log holds base64 of %s", name)
			}
		}
		if !strings.Contains(logged.String(), name) {
			t.Errorf("log does not name %s:\n%s", name, logged.String())
		}
	}
}

func TestFolderCRLs(t *testing.T) {
	ours := newTestCA(t, "Ours")
	other := newTestCA(t, "Other")
	trust := NewTrust([]*x509.Certificate{ours.cert, other.cert})
	dir := t.TempDir()
	now := time.Now()
	a := ours.issue(t, "a@corp.example")
	b := ours.issue(t, "b@corp.example")
	c := other.issue(t, "c@corp.example")
	writeFile(t, filepath.Join(dir, "certs.pem"), certPEM(a, b, c))
	writeFile(t, filepath.Join(dir, "ours.crl"), ours.crl(t, now.Add(-time.Hour), now.Add(time.Hour), a.SerialNumber))
	// other's CRL is past nextUpdate: its revocations count, its certificates freeze.
	writeFile(t, filepath.Join(dir, "other.crl"), pem.EncodeToMemory(&pem.Block{Type: "X509 CRL",
		Bytes: other.crl(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour), c.SerialNumber)}))
	// Signed by a CA that is not trusted: not used.
	stranger := newTestCA(t, "Stranger")
	writeFile(t, filepath.Join(dir, "stranger.crl"), stranger.crl(t, now, now.Add(time.Hour), b.SerialNumber))

	f, _ := newTestFolder(t, dir, false, trust)
	snap := readSnapshot(t, f)
	revoked := map[string]bool{}
	for _, r := range snap.Revocations {
		revoked[string(r.Issuer)+"/"+r.Serial.Text(16)] = true
	}
	ourID, _ := trust.Issuer(a)
	otherID, _ := trust.Issuer(c)
	if len(revoked) != 2 || !revoked[string(ourID)+"/"+a.SerialNumber.Text(16)] || !revoked[string(otherID)+"/"+c.SerialNumber.Text(16)] {
		t.Errorf("revocations %v", snap.Revocations)
	}
	if len(snap.Frozen) != 1 || !strings.Contains(snap.Frozen[otherID], "other.crl") {
		t.Errorf("frozen %v, want only Other with the stale CRL named", snap.Frozen)
	}
	if snap.Problems[ReasonStaleCRL] != 1 || snap.Problems[ReasonBadCRL] != 1 {
		t.Errorf("problems %v", snap.Problems)
	}

	// A fresh CRL replacing the stale one thaws the issuer.
	writeFile(t, filepath.Join(dir, "other.crl"), other.crl(t, now, now.Add(time.Hour), c.SerialNumber))
	snap = readSnapshot(t, f)
	if len(snap.Frozen) != 0 || snap.Problems[ReasonStaleCRL] != 0 {
		t.Errorf("after a fresh CRL: frozen %v, problems %v", snap.Frozen, snap.Problems)
	}
	// The same CRL goes stale as time passes, without the file changing.
	f.now = func() time.Time { return now.Add(2 * time.Hour) }
	snap = readSnapshot(t, f)
	if len(snap.Frozen) != 2 {
		t.Errorf("two hours later: frozen %v, want both issuers", snap.Frozen)
	}
}

func TestFolderRereadsOnlyChangedFiles(t *testing.T) {
	ca := newTestCA(t, "Folder CA")
	dir := t.TempDir()
	path := filepath.Join(dir, "a.cer")
	first, second := sameSizePair(t, ca)
	writeFile(t, path, first.Raw)
	mtime := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	f, _ := newTestFolder(t, dir, false, ca.trust())
	if got := snapSerials(readSnapshot(t, f)); len(got) != 1 || got[0] != first.SerialNumber.Text(16) {
		t.Fatalf("first read: %v", got)
	}
	// Same size, same mtime: the cached parse is used, so the new bytes are not seen.
	writeFile(t, path, second.Raw)
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if got := snapSerials(readSnapshot(t, f)); len(got) != 1 || got[0] != first.SerialNumber.Text(16) {
		t.Errorf("unchanged size and mtime: %v, want the cached certificate", got)
	}
	// A new mtime makes it read again.
	if err := os.Chtimes(path, mtime.Add(time.Second), mtime.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := snapSerials(readSnapshot(t, f)); len(got) != 1 || got[0] != second.SerialNumber.Text(16) {
		t.Errorf("new mtime: %v, want the new certificate", got)
	}
	// A removed file leaves the cache and the snapshot.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if snap := readSnapshot(t, f); len(snap.Certificates) != 0 || len(f.cache) != 0 {
		t.Errorf("removed file: %d certificates, %d cached", len(snap.Certificates), len(f.cache))
	}
}

func TestFolderFailures(t *testing.T) {
	ca := newTestCA(t, "Folder CA")
	dir := t.TempDir()
	missing, _ := newTestFolder(t, filepath.Join(dir, "nope"), true, ca.trust())
	if _, err := missing.Read(context.Background()); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("missing folder: %v", err)
	}
	file := filepath.Join(dir, "file")
	writeFile(t, file, []byte("x"))
	notDir, _ := newTestFolder(t, file, true, ca.trust())
	if _, err := notDir.Read(context.Background()); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file as folder: %v", err)
	}
	if os.Getuid() != 0 {
		locked := filepath.Join(dir, "locked")
		writeFile(t, filepath.Join(locked, "a.pem"), certPEM(ca.issue(t, "a@corp.example")))
		if err := os.Chmod(locked, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(locked, 0o755)
		f, _ := newTestFolder(t, dir, true, ca.trust())
		if _, err := f.Read(context.Background()); err == nil {
			t.Error("unreadable subfolder: no error")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f, _ := newTestFolder(t, t.TempDir(), true, ca.trust())
	if _, err := f.Read(ctx); err == nil {
		t.Error("cancelled context: no error")
	}
}

// BenchmarkFolder reads a drop folder of 10,000 certificates: the first pass parses every file,
// later passes only stat them.
func BenchmarkFolder(b *testing.B) {
	ca := newTestCA(b, "Bench CA")
	dir := b.TempDir()
	for i := range 10000 {
		c := ca.issue(b, fmt.Sprintf("user%d@corp.example", i))
		writeFile(b, filepath.Join(dir, fmt.Sprintf("%02d", i%100), fmt.Sprintf("%d.cer", i)), c.Raw)
	}
	f, _ := newTestFolder(b, dir, true, ca.trust())
	start := time.Now()
	if n := len(readSnapshot(b, f).Certificates); n != 10000 {
		b.Fatalf("%d certificates", n)
	}
	first := time.Since(start)
	for b.Loop() {
		readSnapshot(b, f)
	}
	b.ReportMetric(float64(first.Milliseconds()), "first-pass-ms")
}

// sameSizePair issues certificates until two have the same length. Serials
// and ECDSA signatures vary by a byte or two, and waiting for a match to one
// given certificate could take hundreds of tries when that one had a rare
// length; any pair among a few is near certain.
func sameSizePair(t *testing.T, ca *testCA) (*x509.Certificate, *x509.Certificate) {
	t.Helper()
	bySize := map[int]*x509.Certificate{}
	for range 200 {
		c := ca.issue(t, "a@corp.example")
		if prev, ok := bySize[len(c.Raw)]; ok {
			return prev, c
		}
		bySize[len(c.Raw)] = c
	}
	t.Fatal("no two of 200 certificates have the same length")
	return nil, nil
}
