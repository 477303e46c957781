package sync

import (
	"context"
	"crypto/x509"
	stdsync "sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/certsource"
)

// newFileSource is an unparsedSource whose read, once it has handed its
// files to inspect (files it had not read, when newFiles is set; then it
// closes inspected), waits up to wait for the directory to hand on an entry,
// and notes whether it did.
type newFileSource struct {
	unparsedSource
	newFiles        bool
	inspected       chan struct{} // closed, and set to nil, by the read's first inspect
	metNew          chan struct{} // what inspected was when the pass began
	wait            time.Duration
	entryHandedOn   chan struct{}
	entryDuringRead bool
}

func (s *newFileSource) ReadUnparsed(ctx context.Context, inspect certsource.Inspect) (*certsource.Snapshot, error) {
	if s.newFiles {
		next := inspect
		inspect = func(der []byte, h [32]byte) (string, error) {
			serial, err := next(der, h)
			if s.inspected != nil {
				close(s.inspected)
				s.inspected = nil
			}
			return serial, err
		}
	} else {
		// A store read from the source's own memory of its files asks
		// Inspect nothing.
		inspect = func([]byte, [32]byte) (string, error) { return "", nil }
	}
	snap, err := s.unparsedSource.ReadUnparsed(ctx, inspect)
	select {
	case <-s.entryHandedOn:
		s.entryDuringRead = true
	case <-time.After(s.wait):
	}
	return snap, err
}

// entryDir is a memDir that says when the pass has taken its first entry.
// When the store has new files, it sends none before the store has met one.
type entryDir struct {
	*memDir
	src *newFileSource
}

func (d *entryDir) Users(ctx context.Context, fn func(Entry) error) error {
	if d.src.newFiles {
		<-d.src.metNew
	}
	var once stdsync.Once
	return d.memDir.Users(ctx, func(e Entry) error {
		err := fn(e)
		once.Do(func() { close(d.src.entryHandedOn) })
		return err
	})
}

// TestDaemonReadsNewFilesBeforeTheUsers: a daemon's pass whose store read
// meets files it had not read (a renewal's) takes no user before the store's
// read has ended, so that parsing those certificates and holding the users do
// not add up; a pass whose store has nothing new reads both at once.
func TestDaemonReadsNewFilesBeforeTheUsers(t *testing.T) {
	ca := newTestCA(t, "Corp Issuing CA")
	alice := ca.issue(t, leaf{serial: 1, emails: []string{"alice@corp.example"}})
	src := &newFileSource{unparsedSource: unparsedSource{&certsource.Snapshot{Certificates: []*certsource.Certificate{certsource.NewCertificate(alice, "test")}}}}
	dir := &entryDir{memDir: &memDir{entries: map[string]*Entry{"cn=alice": {DN: "cn=alice", Addresses: []string{"alice@corp.example"}}}}, src: src}
	log, _ := test.NewNullLogger()
	s := NewSyncer(src, dir, certsource.NewTrust([]*x509.Certificate{ca.cert}), Policy{MaxValues: 15, MaxDeletes: 100}, log, NewMetrics(prometheus.NewRegistry()))
	s.now = func() time.Time { return now }
	for _, p := range []struct {
		name     string
		newFiles bool
		atOnce   bool // an entry is handed on while the store's read waits
	}{
		{"first pass", true, false},
		{"a pass whose store has new files", true, false},
		{"a pass whose store has nothing new", false, true},
	} {
		src.newFiles, src.entryHandedOn, src.entryDuringRead = p.newFiles, make(chan struct{}), false
		src.inspected = make(chan struct{})
		src.metNew = src.inspected
		// Waiting for an entry that cannot come while the read lasts ends
		// after 100 ms; one that comes at once is waited for up to 10 s.
		src.wait = 100 * time.Millisecond
		if p.atOnce {
			src.wait = 10 * time.Second
		}
		res, err := s.Pass(context.Background(), true)
		if err != nil || len(res.Plan.Entries) != 1 {
			t.Fatalf("%s: %v, plan %+v", p.name, err, res.Plan)
		}
		if src.entryDuringRead != p.atOnce {
			t.Errorf("%s: an entry handed on during the store's read: %v, want %v", p.name, src.entryDuringRead, p.atOnce)
		}
	}
}

// newFirstFileSource is a newFileSource that meets its new files first, as
// the OpenSSL source does.
type newFirstFileSource struct{ *newFileSource }

func (newFirstFileSource) NewFilesFirst() bool { return true }

// TestDaemonReadsANewFirstStoreBeforeTheUsers: with a store that meets its
// new files first, a daemon's pass takes its first user only once the
// store's read has met one or ended, whether it has new files or not, and
// plans as any other.
func TestDaemonReadsANewFirstStoreBeforeTheUsers(t *testing.T) {
	ca := newTestCA(t, "Corp Issuing CA")
	alice := ca.issue(t, leaf{serial: 1, emails: []string{"alice@corp.example"}})
	files := &newFileSource{unparsedSource: unparsedSource{&certsource.Snapshot{Certificates: []*certsource.Certificate{certsource.NewCertificate(alice, "test")}}}}
	dir := &entryDir{memDir: &memDir{entries: map[string]*Entry{"cn=alice": {DN: "cn=alice", Addresses: []string{"alice@corp.example"}}}}, src: files}
	log, _ := test.NewNullLogger()
	s := NewSyncer(newFirstFileSource{files}, dir, certsource.NewTrust([]*x509.Certificate{ca.cert}), Policy{MaxValues: 15, MaxDeletes: 100}, log, NewMetrics(prometheus.NewRegistry()))
	s.now = func() time.Time { return now }
	for _, p := range []struct {
		name     string
		newFiles bool
	}{
		{"first pass", true},
		{"a pass whose store has new files", true},
		{"a pass whose store has nothing new", false},
	} {
		files.newFiles, files.entryHandedOn, files.entryDuringRead = p.newFiles, make(chan struct{}), false
		files.inspected = make(chan struct{})
		files.metNew = files.inspected
		files.wait = 100 * time.Millisecond // an entry that cannot come while the read lasts
		res, err := s.Pass(context.Background(), true)
		if err != nil || len(res.Plan.Entries) != 1 {
			t.Fatalf("%s: %v, plan %+v", p.name, err, res.Plan)
		}
		if files.entryDuringRead {
			t.Errorf("%s: an entry handed on during the store's read", p.name)
		}
	}
}
