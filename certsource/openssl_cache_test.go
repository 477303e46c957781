package certsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/certgal/certgal/certsource/catest"
)

// TestOpenSSLCacheCarriesOverToAnotherProcess: a source that takes over
// another's cache reads the same snapshot without opening an unchanged file,
// and still sees a file that was replaced, even with its size and mtime kept.
func TestOpenSSLCacheCarriesOverToAnotherProcess(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	now := time.Now()
	issued := ca.IssueMany(t, []string{"a@corp.example", "b@corp.example", "c@corp.example"}, now.Add(-time.Hour), now.Add(time.Hour))
	inspected := 0
	inspect := func(der []byte, _ [32]byte) (string, error) {
		inspected++
		return serialOf(der)
	}
	first, _ := newOpenSSL(t, ca)
	want, err := first.ReadUnparsed(context.Background(), inspect)
	if err != nil {
		t.Fatal(err)
	}
	if !first.CacheChanged() || inspected != 3 {
		t.Fatalf("first read: changed %v, %d inspected", first.CacheChanged(), inspected)
	}
	body := marshal(t, first)
	if first.CacheChanged() {
		t.Error("changed after WriteCache")
	}

	second, _ := newOpenSSL(t, ca)
	if n, err := unmarshal(second, body); n != 3 || err != nil {
		t.Fatalf("UnmarshalCache: %d, %v", n, err)
	}
	inspected = 0
	got, err := second.ReadUnparsed(context.Background(), inspect)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := describe(t, got), describe(t, want); fmt.Sprint(g) != fmt.Sprint(w) {
		t.Fatalf("from the cache\n%q\nread\n%q", g, w)
	}
	if inspected != 0 || second.CacheChanged() {
		t.Errorf("from the cache: %d files inspected, changed %v", inspected, second.CacheChanged())
	}

	// Other bytes of the same size written over a file, its mtime set back:
	// the change time tells.
	st, err := os.Stat(issued[0].CertFile)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond) // a ctime apart on coarse clocks
	if err := os.WriteFile(issued[0].CertFile, bytes.Repeat([]byte("x"), int(st.Size())), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(issued[0].CertFile, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	third, _ := newOpenSSL(t, ca)
	if _, err := unmarshal(third, marshal(t, second)); err != nil {
		t.Fatal(err)
	}
	inspected = 0
	snap, err := third.ReadUnparsed(context.Background(), inspect)
	if err != nil {
		t.Fatal(err)
	}
	if inspected != 1 || snap.Problems["bad_certificate"] != 1 || len(snap.Certificates) != 2 {
		t.Errorf("a file replaced under its old size and mtime: %d inspected (want 1), problems %v, %d certificates",
			inspected, snap.Problems, len(snap.Certificates))
	}
}

// TestOpenSSLCacheRefusesDamage: a body that is cut short or of another
// format is refused whole and the source keeps reading the files.
func TestOpenSSLCacheRefusesDamage(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	ca.Issue(t, "a@corp.example")
	src, _ := newOpenSSL(t, ca)
	if _, err := src.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	body := marshal(t, src)
	other := append([]byte{0, 0, 0, 9}, body[4:]...)
	for name, b := range map[string][]byte{"cut": body[:len(body)-5], "empty": {}, "format": other, "trailing": append(body, 0)} {
		fresh, _ := newOpenSSL(t, ca)
		if n, err := unmarshal(fresh, b); err == nil || n != 0 {
			t.Errorf("%s: %d entries, %v", name, n, err)
		}
		if snap, err := fresh.Read(context.Background()); err != nil || len(snap.Certificates) != 1 {
			t.Errorf("%s: read after a refused cache: %v", name, err)
		}
	}

	// The keeper's reader finds the body damaged at its end: its error, and nothing taken.
	damaged := errors.New("checksum mismatch")
	fresh, _ := newOpenSSL(t, ca)
	r := io.MultiReader(bytes.NewReader(body), iotest.ErrReader(damaged))
	if n, err := fresh.UnmarshalCache(r, int64(len(body))); !errors.Is(err, damaged) || n != 0 {
		t.Errorf("damaged at the end: %d entries, %v", n, err)
	}
	if fresh.CacheChanged() || fresh.cache.len() != 0 {
		t.Errorf("damaged at the end: the source took %d entries", fresh.cache.len())
	}
}

// unmarshal is UnmarshalCache of a body in memory.
func unmarshal(s *OpenSSL, body []byte) (int, error) {
	return s.UnmarshalCache(bytes.NewReader(body), int64(len(body)))
}

func marshal(t testing.TB, s *OpenSSL) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := s.WriteCache(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestOpenSSLWriteCacheEmpty: a source that read nothing writes a cache of
// nothing, which reads back as such.
func TestOpenSSLWriteCacheEmpty(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	src, _ := newOpenSSL(t, ca)
	fresh, _ := newOpenSSL(t, ca)
	if n, err := unmarshal(fresh, marshal(t, src)); n != 0 || err != nil {
		t.Fatalf("UnmarshalCache: %d, %v", n, err)
	}
}

// TestOpenSSLWriteCacheFails: a writer's error is WriteCache's.
func TestOpenSSLWriteCacheFails(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	ca.Issue(t, "a@corp.example")
	src, _ := newOpenSSL(t, ca)
	if _, err := src.Read(context.Background()); err != nil {
		t.Fatal(err)
	}
	full := errors.New("disk full")
	if err := src.WriteCache(failingWriter{full}); !errors.Is(err, full) {
		t.Fatalf("WriteCache: %v, want %v", err, full)
	}
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

// TestOpenSSLQuickReadWhenNothingChanged: with index.txt and the certificate
// directories unchanged, a read returns the files of the last one without
// looking at them again; a file added or removed there, an index.txt
// changed, or fullCheckEvery passed makes it look at every file again.
func TestOpenSSLQuickReadWhenNothingChanged(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	now := time.Now()
	issued := ca.IssueMany(t, []string{"a@corp.example", "b@corp.example"}, now.Add(-time.Hour), now.Add(time.Hour))
	src, _ := newOpenSSL(t, ca)
	clock := now
	src.now = func() time.Time { return clock }
	read := func() *Snapshot { t.Helper(); return readUnparsed(t, src) }
	want := describe(t, read())
	// A file rewritten in place (nothing an `openssl ca` store does) is not
	// seen by a quick read...
	st, err := os.Stat(issued[0].CertFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(issued[0].CertFile, bytes.Repeat([]byte("x"), int(st.Size())), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, read()); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("quick read\n%q\nwant the last read's\n%q", got, want)
	}
	// ...but by the full read fullCheckEvery later,
	clock = clock.Add(fullCheckEvery)
	if snap := read(); snap.Problems["bad_certificate"] != 1 || len(snap.Certificates) != 1 {
		t.Errorf("after fullCheckEvery: problems %v, %d certificates", snap.Problems, len(snap.Certificates))
	}
	// and problems found then are reported again by the quick reads after.
	if snap := read(); snap.Problems["bad_certificate"] != 1 || len(snap.Certificates) != 1 {
		t.Errorf("quick read after a full one: problems %v, %d certificates", snap.Problems, len(snap.Certificates))
	}

	// A file added where certificates are makes the next read a full one.
	restore := func() {
		t.Helper()
		if err := os.WriteFile(issued[0].CertFile, mustRead(t, issued[1].CertFile), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	restore() // now b's certificate under a's serial: serial_mismatch once looked at
	if snap := read(); snap.Problems["serial_mismatch"] != 0 {
		t.Fatalf("quick read looked at the file: %v", snap.Problems)
	}
	time.Sleep(20 * time.Millisecond) // directory times tick coarsely (a few ms)
	if err := os.WriteFile(filepath.Join(ca.Dir, "newcerts", "FFFF.pem"), []byte("stray"), 0o644); err != nil {
		t.Fatal(err)
	}
	if snap := read(); snap.Problems["serial_mismatch"] != 1 {
		t.Errorf("a file added to newcerts/: problems %v, want serial_mismatch", snap.Problems)
	}
	// So does a line added to index.txt.
	if err := os.WriteFile(issued[0].CertFile, bytes.Repeat([]byte("y"), int(st.Size())), 0o644); err != nil {
		t.Fatal(err)
	}
	ca.IssueMany(t, []string{"c@corp.example"}, now.Add(-time.Hour), now.Add(time.Hour))
	if snap := read(); snap.Problems["bad_certificate"] != 1 || len(snap.Certificates) != 2 {
		t.Errorf("index.txt changed: problems %v, %d certificates", snap.Problems, len(snap.Certificates))
	}
}

// FuzzUnmarshalCache: a damaged or hand-made CA store cache body never panics
// a source, and what it takes marshals back to the same.
func FuzzUnmarshalCache(f *testing.F) {
	ca := catest.New(f, "Corp S/MIME CA")
	now := time.Now()
	ca.IssueMany(f, []string{"a@corp.example", "b@corp.example"}, now.Add(-time.Hour), now.Add(time.Hour))
	src, _ := newOpenSSL(f, ca)
	if _, err := src.Read(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Add(marshal(f, src))
	f.Add([]byte{0, 0, 0, 1, 0})
	f.Add([]byte{0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, body []byte) {
		s, _ := newOpenSSL(t, ca)
		n, err := unmarshal(s, body)
		if err != nil {
			return
		}
		again, _ := newOpenSSL(t, ca)
		if m, err := unmarshal(again, marshal(t, s)); err != nil || m != n {
			t.Fatalf("re-marshalled: %d entries, %v; first %d", m, err, n)
		}
	})
}

// TestOpenSSLQuickReadSeesIndexRewrittenInPlace: index.txt rewritten in place
// (no new file, no rename: the directories' times stay) is read again, and a
// certificate it now says is revoked is revoked in the snapshot.
func TestOpenSSLQuickReadSeesIndexRewrittenInPlace(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	now := time.Now()
	issued := ca.IssueMany(t, []string{"a@corp.example", "b@corp.example"}, now.Add(-time.Hour), now.Add(time.Hour))
	src, _ := newOpenSSL(t, ca)
	src.now = func() time.Time { return now } // never fullCheckEvery later
	status := func(snap *Snapshot) Status {
		t.Helper()
		for _, c := range snap.Certificates {
			if c.Origin() == issued[0].CertFile {
				return c.Status
			}
		}
		t.Fatalf("%s not in the snapshot", issued[0].CertFile)
		return 0
	}
	if st := status(readUnparsed(t, src)); st != StatusValid {
		t.Fatalf("first read: %s", st)
	}
	index := filepath.Join(ca.Dir, "index.txt")
	data := mustRead(t, index)
	lines := strings.Split(string(data), "\n")
	for i, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) == 6 && f[3] == issued[0].Serial {
			f[0], f[2] = "R", now.UTC().Format("060102150405Z")+",keyCompromise"
			lines[i] = strings.Join(f, "\t")
		}
	}
	if err := os.WriteFile(index, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if st := status(readUnparsed(t, src)); st != StatusRevoked {
		t.Errorf("after index.txt was rewritten in place: %s, want revoked", st)
	}
}
