package sync

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/certsource"
)

// rereadDir is a memDir that counts the entries read one by one and, with
// hide, answers them without that value, as when somebody removed it after
// the pass read the directory.
type rereadDir struct {
	*memDir
	reads int
	hide  []byte
}

func (d *rereadDir) User(ctx context.Context, dn string) (Entry, error) {
	d.reads++
	e, err := d.memDir.User(ctx, dn)
	if d.hide != nil {
		e.Certificates = slices.DeleteFunc(slices.Clone(e.Certificates), func(v []byte) bool { return bytes.Equal(v, d.hide) })
	}
	return e, err
}

// TestPassWritesWhatItDoesNotHold: a pass holds no certificate's DER. What it
// adds is read again from the CA store; a value it removes that the store
// does not have, and that it knew from the file cache without parsing it, is
// taken from the entry, read again; when that value is gone meanwhile, the
// entry is planned again.
func TestPassWritesWhatItDoesNotHold(t *testing.T) {
	ca := newTestCA(t, "Corp Issuing CA")
	day := 24 * time.Hour
	current := ca.issue(t, leaf{serial: 1, emails: []string{"alice@corp.example"}, notBefore: now.Add(-day)})
	// Ours, long expired, and no longer in the store: it must go.
	gone := ca.issue(t, leaf{serial: 2, emails: []string{"alice@corp.example"}, notBefore: now.Add(-400 * day), notAfter: now.Add(-30 * day)})
	src := unparsedSource{&certsource.Snapshot{Certificates: []*certsource.Certificate{certsource.NewCertificate(current, "test")}}}
	trust := certsource.NewTrust([]*x509.Certificate{ca.cert})
	cache := filepath.Join(t.TempDir(), "cache")

	for _, tc := range []struct {
		name      string
		vanished  bool
		wantReads int
		wantMods  int
	}{
		{name: "value still there", wantReads: 1, wantMods: 1},
		// The re-read finds it gone: a conflict, so the entry is read and
		// planned once more, and only the add is written.
		{name: "value gone meanwhile", vanished: true, wantReads: 2, wantMods: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := &memDir{entries: map[string]*Entry{
				"cn=alice": {DN: "cn=alice", Addresses: []string{"alice@corp.example"}, Certificates: [][]byte{gone.Raw}},
			}}
			dir := &rereadDir{memDir: mem}
			pol := Policy{MaxValues: 15, MaxDeletes: 100, ExpiredGrace: day}
			newSyncer := func() *Syncer {
				log, _ := test.NewNullLogger()
				s := NewSyncer(src, dir, trust, pol, log, NewMetrics(prometheus.NewRegistry()))
				s.now = func() time.Time { return now }
				s.CacheDir = cache
				return s
			}
			// A dry run leaves every certificate in the file cache.
			if _, err := newSyncer().Pass(context.Background(), true); err != nil {
				t.Fatal(err)
			}
			if tc.vanished {
				dir.hide = gone.Raw
			}
			s := newSyncer()
			res, err := s.Pass(context.Background(), false)
			if err != nil || res.Err != nil {
				t.Fatalf("pass: %v, %v", err, res.Err)
			}
			if n := s.classes.Fresh(); n != 0 {
				t.Fatalf("%d certificates parsed: the file cache was not used", n)
			}
			if dir.reads != tc.wantReads || len(mem.mods) != tc.wantMods {
				t.Fatalf("%d entries read again (want %d), %d modifies (want %d)", dir.reads, tc.wantReads, len(mem.mods), tc.wantMods)
			}
			m := mem.mods[0]
			if len(m.Add) != 1 || !bytes.Equal(m.Add[0], current.Raw) {
				t.Errorf("added %d values, want the current certificate read again from the store", len(m.Add))
			}
			wantDelete := 1
			if tc.vanished {
				wantDelete = 0
			}
			if len(m.Delete) != wantDelete || wantDelete == 1 && !bytes.Equal(m.Delete[0], gone.Raw) {
				t.Errorf("removed %d values, want %d", len(m.Delete), wantDelete)
			}
		})
	}
}

// changedSource is a store whose files changed after the read: AppendDER fails,
// as OpenSSL.AppendDER does when a file's hash is no longer the one read.
type changedSource struct{ unparsedSource }

func (changedSource) AppendDER(dst []byte, c *certsource.Certificate) ([]byte, error) {
	return dst, errors.New("changed since it was read")
}

// TestPassWritesNothingItCannotReadAgain: a certificate whose file changed
// between the read and the write is not written; the entry fails, the others
// are written.
func TestPassWritesNothingItCannotReadAgain(t *testing.T) {
	ca := newTestCA(t, "Corp Issuing CA")
	alice := ca.issue(t, leaf{serial: 1, emails: []string{"alice@corp.example"}})
	src := changedSource{unparsedSource{&certsource.Snapshot{Certificates: []*certsource.Certificate{certsource.NewCertificate(alice, "test")}}}}
	mem := &memDir{entries: map[string]*Entry{"cn=alice": {DN: "cn=alice", Addresses: []string{"alice@corp.example"}}}}
	log, _ := test.NewNullLogger()
	s := NewSyncer(src, mem, certsource.NewTrust([]*x509.Certificate{ca.cert}), Policy{MaxValues: 15, MaxDeletes: 100}, log, NewMetrics(prometheus.NewRegistry()))
	s.now = func() time.Time { return now }
	res, err := s.Pass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != ResultEntryErrors || res.Err == nil || !strings.Contains(res.Err.Error(), "changed since it was read") || len(mem.mods) != 0 {
		t.Fatalf("status %s, error %v, %d modifies; want an entry error and no modify", res.Status, res.Err, len(mem.mods))
	}
}

// cachingSource is an unparsedSource with a file cache of its own that says
// whether it changed and records being dropped.
type cachingSource struct {
	unparsedSource
	changed, dropped bool
}

func (s *cachingSource) CacheKey() string   { return "test" }
func (s *cachingSource) CacheChanged() bool { return s.changed }
func (s *cachingSource) WriteCache(w io.Writer) error {
	s.changed = false
	_, err := io.WriteString(w, "files")
	return err
}
func (s *cachingSource) UnmarshalCache(io.Reader, int64) (int, error) { return 0, nil }
func (s *cachingSource) DropCache()                                   { s.dropped = true }

// afterSourceDir is a memDir that notes whether src had dropped its memory
// when the directory was read.
type afterSourceDir struct {
	*memDir
	src       *cachingSource
	afterDrop bool
}

func (d *afterSourceDir) Users(ctx context.Context, fn func(Entry) error) error {
	d.afterDrop = d.src.dropped
	return d.memDir.Users(ctx, fn)
}

// TestOnceDropsWhatOnlyALaterPassUses: a one-pass process forgets the
// classification and the source's memory once everything is read, unless the
// file caches are still to get something new from them, and plans the same;
// it reads the directory only once the source's memory is gone.
func TestOnceDropsWhatOnlyALaterPassUses(t *testing.T) {
	ca := newTestCA(t, "Corp Issuing CA")
	alice := ca.issue(t, leaf{serial: 1, emails: []string{"alice@corp.example"}})
	trust := certsource.NewTrust([]*x509.Certificate{ca.cert})
	cache := filepath.Join(t.TempDir(), "cache")
	pass := func(changed bool) (*Syncer, *cachingSource, *Result) {
		t.Helper()
		src := &cachingSource{unparsedSource: unparsedSource{&certsource.Snapshot{Certificates: []*certsource.Certificate{certsource.NewCertificate(alice, "test")}}}, changed: changed}
		mem := &memDir{entries: map[string]*Entry{"cn=alice": {DN: "cn=alice", Addresses: []string{"alice@corp.example"}}}}
		dir := &afterSourceDir{memDir: mem, src: src}
		log, _ := test.NewNullLogger()
		s := NewSyncer(src, dir, trust, Policy{MaxValues: 15, MaxDeletes: 100}, log, NewMetrics(prometheus.NewRegistry()))
		s.now = func() time.Time { return now }
		s.CacheDir, s.OnePass = cache, true
		res, err := s.Pass(context.Background(), true)
		if err != nil {
			t.Fatal(err)
		}
		if !dir.afterDrop && !changed {
			t.Error("the directory was read before the source's memory was dropped")
		}
		return s, src, res
	}
	// A first run classified alice's certificate and the store was read anew:
	// both go to the file caches, so nothing is dropped.
	s, src, first := pass(true)
	if s.classes.certs.len() == 0 || src.dropped {
		t.Errorf("first run: %d certificates kept, source dropped %v; want both kept for the file caches", s.classes.certs.len(), src.dropped)
	}
	// The next run finds both in the caches: nothing new, both dropped.
	s, src, second := pass(false)
	if s.classes.certs.len() != 0 || !src.dropped {
		t.Errorf("second run: %d certificates kept, source dropped %v; want both dropped", s.classes.certs.len(), src.dropped)
	}
	if a, b := first.Plan.Entries, second.Plan.Entries; len(a) != 1 || len(b) != 1 || len(a[0].Adds) != 1 || len(b[0].Adds) != 1 {
		t.Errorf("plans differ: %+v and %+v", a, b)
	}
}

// orderSource is an unparsedSource that notes when its read ends. Before it
// reads, it waits up to waitForDir for the directory to start; with fail set,
// the read fails then.
type orderSource struct {
	unparsedSource
	waitForDir time.Duration
	fail       bool
	dirStarted chan struct{}
	sawDir     bool        // the directory started while the read waited
	done       atomic.Bool // the read has ended
}

func (s *orderSource) ReadUnparsed(ctx context.Context, inspect certsource.Inspect) (*certsource.Snapshot, error) {
	select {
	case <-s.dirStarted:
		s.sawDir = true
	case <-time.After(s.waitForDir):
	}
	defer s.done.Store(true)
	if s.fail {
		return nil, errors.New("CA directory not mounted")
	}
	return s.unparsedSource.ReadUnparsed(ctx, inspect)
}

// orderDir is a memDir that notes whether the store's read had ended when it
// was read, and says when it starts.
type orderDir struct {
	*memDir
	src             *orderSource
	read, afterRead bool
}

func (d *orderDir) Users(ctx context.Context, fn func(Entry) error) error {
	d.read, d.afterRead = true, d.src.done.Load()
	close(d.src.dirStarted)
	return d.memDir.Users(ctx, fn)
}

// TestDaemonReadsTheStoreFirstOnItsFirstPass: a daemon's first pass reads the
// directory once the store is read, as a one-pass process does (its peak is
// the process's), and so does the one after a pass that could not read the
// store; later passes read both at once.
func TestDaemonReadsTheStoreFirstOnItsFirstPass(t *testing.T) {
	ca := newTestCA(t, "Corp Issuing CA")
	alice := ca.issue(t, leaf{serial: 1, emails: []string{"alice@corp.example"}})
	src := &orderSource{unparsedSource: unparsedSource{&certsource.Snapshot{Certificates: []*certsource.Certificate{certsource.NewCertificate(alice, "test")}}}}
	dir := &orderDir{memDir: &memDir{entries: map[string]*Entry{"cn=alice": {DN: "cn=alice", Addresses: []string{"alice@corp.example"}}}}, src: src}
	log, _ := test.NewNullLogger()
	s := NewSyncer(src, dir, certsource.NewTrust([]*x509.Certificate{ca.cert}), Policy{MaxValues: 15, MaxDeletes: 100}, log, NewMetrics(prometheus.NewRegistry()))
	s.now = func() time.Time { return now }
	for _, p := range []struct {
		name       string
		fail, both bool // the store's read fails; store and directory are read at once
	}{
		{"first pass, the store unreadable", true, false},
		{"first pass that reads the store", false, false},
		{"second pass", false, true},
	} {
		// Read one after the other, the directory cannot start while the
		// store's read waits for it; read at once, it starts at once.
		src.dirStarted, src.fail, src.sawDir, src.waitForDir = make(chan struct{}), p.fail, false, 100*time.Millisecond
		if p.both {
			src.waitForDir = 10 * time.Second
		}
		src.done.Store(false)
		dir.read, dir.afterRead = false, false
		res, err := s.Pass(context.Background(), true)
		if p.fail {
			if err == nil {
				t.Fatalf("%s: no error", p.name)
			}
		} else if err != nil || len(res.Plan.Entries) != 1 {
			t.Fatalf("%s: %v, plan %+v", p.name, err, res.Plan)
		}
		if !p.both && (src.sawDir || dir.read && !dir.afterRead) {
			t.Errorf("%s: the directory was read before the store's read ended", p.name)
		}
		if p.both && !src.sawDir {
			t.Errorf("%s: the store's read waited for the directory in vain: they were not read at once", p.name)
		}
	}
}

// originSource is an unparsedSource whose AppendDER, as OpenSSL's, finds the
// certificate by where it came from, and checks its hash.
type originSource struct{ unparsedSource }

func (s originSource) AppendDER(dst []byte, c *certsource.Certificate) ([]byte, error) {
	for _, sc := range s.snap.Certificates {
		if sc.Origin() == c.Origin() && sc.Hash == c.Hash {
			return append(dst, sc.DER()...), nil
		}
	}
	return dst, fmt.Errorf("%s: not in the store", c.Origin())
}

// TestPassKeepsTheDEROfWhatItPublishes: a pass that writes keeps of the CA
// store's certificates only what it may write or publish; the lookup built
// after it still finds the DER of every certificate the pass published, those
// it wrote and those the directory already had.
func TestPassKeepsTheDEROfWhatItPublishes(t *testing.T) {
	ca := newTestCA(t, "Corp Issuing CA")
	alice := ca.issue(t, leaf{serial: 1, emails: []string{"alice@corp.example"}})
	carol := ca.issue(t, leaf{serial: 2, emails: []string{"carol@corp.example"}})
	nobody := ca.issue(t, leaf{serial: 3, emails: []string{"bob@corp.example"}})
	var certs []*certsource.Certificate
	for i, x := range []*x509.Certificate{alice, carol, nobody} {
		certs = append(certs, certsource.NewCertificate(x, fmt.Sprintf("newcerts/%02d.pem", i)))
	}
	src := originSource{unparsedSource{&certsource.Snapshot{Certificates: certs}}}
	mem := &memDir{entries: map[string]*Entry{
		"cn=alice": {DN: "cn=alice", Addresses: []string{"alice@corp.example"}},
		"cn=carol": {DN: "cn=carol", Addresses: []string{"carol@corp.example"}, Certificates: [][]byte{carol.Raw}},
	}}
	log, _ := test.NewNullLogger()
	s := NewSyncer(src, mem, certsource.NewTrust([]*x509.Certificate{ca.cert}), Policy{MaxValues: 15, MaxDeletes: 100}, log, NewMetrics(prometheus.NewRegistry()))
	s.now = func() time.Time { return now }
	res, err := s.Pass(context.Background(), false)
	if err != nil || res.Err != nil {
		t.Fatalf("pass: %v, %v", err, res.Err)
	}
	if len(mem.mods) != 1 || len(res.Plan.Published) != 2 {
		t.Fatalf("%d modifies, %d users published; want alice's add, and alice and carol published", len(mem.mods), len(res.Plan.Published))
	}
	for _, p := range res.Plan.Published {
		for _, x := range p.Certs {
			der, err := res.DER(x)
			if err != nil {
				t.Fatalf("%v: DER of serial %s: %v", p.Addresses, x.SerialHex(), err)
			}
			if want := map[string][]byte{"alice@corp.example": alice.Raw, "carol@corp.example": carol.Raw}[p.Addresses[0]]; !bytes.Equal(der, want) {
				t.Errorf("%v: DER of serial %s is not the certificate published", p.Addresses, x.SerialHex())
			}
		}
	}
}
