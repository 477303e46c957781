package certsource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	stdsync "sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/certsource/catest"
	"github.com/certgal/certgal/config"
)

// describe renders a snapshot without its parsed certificates: what ReadUnparsed must equal.
func describe(t *testing.T, snap *Snapshot) []string {
	t.Helper()
	var out []string
	for _, c := range snap.Certificates {
		if c.DER() != nil && c.Hash != sha256.Sum256(c.DER()) {
			t.Errorf("%s: Hash is not the SHA-256 of DER", c.Origin())
		}
		out = append(out, fmt.Sprintf("%s %x %s %s %v", c.Origin(), c.Hash[:8], c.Status, revokedOf(c).Reason, revokedOf(c).At.Unix()))
	}
	sort.Strings(out)
	for reason, n := range snap.Problems {
		out = append(out, fmt.Sprintf("problem %s=%d", reason, n))
	}
	for _, r := range snap.Revocations {
		out = append(out, fmt.Sprintf("revoked %s %X", r.Issuer, r.Serial))
	}
	sort.Strings(out)
	return out
}

func TestOpenSSLReadUnparsedIsReadWithoutParsedCopies(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	now := time.Now()
	issued := ca.IssueMany(t, []string{"a@corp.example", "b@corp.example", "c@corp.example", "d@corp.example"}, now.Add(-time.Hour), now.Add(time.Hour))
	ca.Revoke(t, issued[1].Serial, "keyCompromise")
	crl := ca.CRL(t, true)
	// A broken file and a line whose file is missing are skipped alike by both.
	if err := os.WriteFile(issued[2].CertFile, []byte("not a certificate"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(issued[3].CertFile); err != nil {
		t.Fatal(err)
	}

	parsedSrc, _ := newOpenSSL(t, ca, crl)
	want, err := parsedSrc.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	src, _ := newOpenSSL(t, ca, crl)
	for pass := 1; pass <= 2; pass++ {
		var mu stdsync.Mutex
		seen := map[[32]byte]int{}
		snap, err := src.ReadUnparsed(context.Background(), func(der []byte, h [32]byte) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			if h != sha256.Sum256(der) {
				t.Errorf("inspect: hash of another certificate")
			}
			seen[h]++
			return serialOf(der)
		})
		if err != nil {
			t.Fatal(err)
		}
		// Each file is inspected once, on the first read only; the broken one
		// is refused by inspect on every read.
		delete(seen, sha256.Sum256([]byte("not a certificate")))
		if pass == 1 && (len(seen) != 2 || seen[snap.Certificates[0].Hash] != 1 || seen[snap.Certificates[1].Hash] != 1) ||
			pass == 2 && len(seen) != 0 {
			t.Errorf("read %d: seen %v", pass, seen)
		}
		if got, w := describe(t, snap), describe(t, want); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Fatalf("read %d: ReadUnparsed\n%q\nRead\n%q", pass, got, w)
		}
		for _, c := range snap.Certificates {
			if c.Cert != nil || c.DER() != nil {
				t.Errorf("read %d: %s came parsed (%v) or with its DER (%v)", pass, c.Origin(), c.Cert != nil, c.DER() != nil)
			}
			// AppendDER reads the file again, as Read has it.
			der, err := src.AppendDER(nil, c)
			if err != nil || sha256.Sum256(der) != c.Hash {
				t.Errorf("read %d: AppendDER(%s): %d bytes of another hash, %v", pass, c.Origin(), len(der), err)
			}
		}
	}
	if len(src.parsed) != 0 {
		t.Errorf("ReadUnparsed kept %d parsed certificates or their DER", len(src.parsed))
	}
	kept, err := src.ReadUnparsed(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}

	// Read on the same source parses what ReadUnparsed cached, once.
	first, err := src.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	second, err := src.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Certificates) != 2 || len(second.Certificates) != 2 {
		t.Fatalf("Read after ReadUnparsed: %d and %d certificates, want 2", len(first.Certificates), len(second.Certificates))
	}
	for i, c := range first.Certificates {
		if c.Cert == nil || c.Cert != second.Certificates[i].Cert {
			t.Errorf("%s: parsed %v, parsed again on the next Read %v", c.Origin(), c.Cert != nil, c.Cert != second.Certificates[i].Cert)
		}
	}

	// A changed file is read again.
	other := ca.IssueMany(t, []string{"e@corp.example"}, now.Add(-time.Hour), now.Add(time.Hour))
	data, err := os.ReadFile(other[0].CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(issued[0].CertFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	snap, err := src.ReadUnparsed(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Problems["serial_mismatch"] != 1 {
		t.Errorf("a file replaced by another certificate: problems %v", snap.Problems)
	}
	// What an earlier read found there is not what AppendDER finds now.
	for _, c := range kept.Certificates {
		if c.Origin() != issued[0].CertFile {
			continue
		}
		if der, err := src.AppendDER(nil, c); err == nil || !strings.Contains(err.Error(), "changed since it was read") {
			t.Errorf("AppendDER of a replaced file: %d bytes, %v", len(der), err)
		}
	}
	if _, err := src.AppendDER(nil, &Certificate{origin: filepath.Join(ca.Dir, "private", "ca.key")}); err == nil {
		t.Error("AppendDER read a file under private/")
	}
}

// TestOpenSSLAppendDERWithARelativeDirectory: a CA directory configured as a
// relative path reads its files again as well, and still nothing under
// private/.
func TestOpenSSLAppendDERWithARelativeDirectory(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	ca.Issue(t, "a@corp.example")
	trust, err := LoadTrust([]string{ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(filepath.Dir(ca.Dir))
	src := NewOpenSSL(config.OpenSSL{Dir: filepath.Base(ca.Dir)}, trust, logrus.New())
	snap, err := src.ReadUnparsed(context.Background(), nil)
	if err != nil || len(snap.Certificates) != 1 {
		t.Fatalf("read: %v, %d certificates", err, len(snap.Certificates))
	}
	if der, err := src.AppendDER(nil, snap.Certificates[0]); err != nil || sha256.Sum256(der) != snap.Certificates[0].Hash {
		t.Errorf("AppendDER: %d bytes, %v", len(der), err)
	}
	key := &Certificate{origin: filepath.Join(filepath.Base(ca.Dir), "private", "ca.key")}
	if _, err := src.AppendDER(nil, key); err == nil || !strings.Contains(err.Error(), "not a certificate file") {
		t.Errorf("AppendDER under private/: %v", err)
	}
}

// TestOpenSSLAppendDERReadsAtTheReadsSize: AppendDER reads a file at the size the
// read found, into a buffer it reuses. What it returns for a DER file is its
// own, the caller's buffer's when it gives one, and a file cut short since
// the read is reported as changed, the caller's buffer left as it was.
func TestOpenSSLAppendDERReadsAtTheReadsSize(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	now := time.Now()
	issued := ca.IssueMany(t, []string{"a@corp.example", "b@corp.example", "c@corp.example"}, now.Add(-time.Hour), now.Add(time.Hour))
	// a and c as DER files, b as openssl writes it.
	for _, i := range []int{0, 2} {
		if err := os.WriteFile(issued[i].CertFile, issued[i].DER, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	trust, err := LoadTrust([]string{ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	src := NewOpenSSL(config.OpenSSL{Dir: ca.Dir}, trust, logrus.New())
	snap, err := src.ReadUnparsed(context.Background(), nil)
	if err != nil || len(snap.Certificates) != 3 {
		t.Fatalf("read: %v, %d certificates", err, len(snap.Certificates))
	}
	byOrigin := map[string]*Certificate{}
	for _, c := range snap.Certificates {
		byOrigin[c.Origin()] = c
	}
	load := func(i int) ([]byte, error) {
		t.Helper()
		c := byOrigin[issued[i].CertFile]
		if c == nil {
			t.Fatalf("%s not in the snapshot", issued[i].CertFile)
		}
		return src.AppendDER(nil, c)
	}
	// b first: its PEM is the largest file, so the DER files after it are
	// read into the buffer it grew.
	var got [3][]byte
	for _, i := range []int{1, 0, 2} {
		if got[i], err = load(i); err != nil || !bytes.Equal(got[i], issued[i].DER) {
			t.Fatalf("AppendDER of %s: %d bytes, %v", issued[i].CertFile, len(got[i]), err)
		}
	}
	for i := range got {
		if !bytes.Equal(got[i], issued[i].DER) {
			t.Errorf("what AppendDER returned for %s changed with the loads after it", issued[i].CertFile)
		}
	}
	held := []byte("held before")
	buf := append(make([]byte, 0, 4096), held...)
	for _, i := range []int{1, 0} {
		out, err := src.AppendDER(buf, byOrigin[issued[i].CertFile])
		if err != nil || !bytes.Equal(out, append(held, issued[i].DER...)) || &out[0] != &buf[0] {
			t.Errorf("AppendDER of %s after %q: %q, %v; want it appended in the buffer given", issued[i].CertFile, held, out, err)
		}
	}

	// a grown since the read: what is read is the size the read found, the
	// certificate it found (a stat of the file would read the new bytes too,
	// which hash otherwise).
	f, err := os.OpenFile(issued[0].CertFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("appended after the read")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if der, err := load(0); err != nil || !bytes.Equal(der, issued[0].DER) {
		t.Errorf("AppendDER of a file grown since the read: %d bytes, %v; want the certificate read", len(der), err)
	}
	// b cut short: the size the read found is not there any more.
	data, err := os.ReadFile(issued[1].CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(issued[1].CertFile, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if der, err := load(1); err == nil || !strings.Contains(err.Error(), "changed since it was read") {
		t.Errorf("AppendDER of a file cut short: %d bytes, %v", len(der), err)
	}
	if out, err := src.AppendDER(held, byOrigin[issued[1].CertFile]); err == nil || !bytes.Equal(out, held) {
		t.Errorf("AppendDER of a file cut short after %q: %q, %v; want the buffer as it was", held, out, err)
	}
	// c with other bytes of its size: they hash otherwise.
	other := bytes.Clone(issued[2].DER)
	other[len(other)-1] ^= 1
	if err := os.WriteFile(issued[2].CertFile, other, 0o644); err != nil {
		t.Fatal(err)
	}
	if der, err := load(2); err == nil || !strings.Contains(err.Error(), "changed since it was read") {
		t.Errorf("AppendDER of a file rewritten at its size: %d bytes, %v", len(der), err)
	}
}
