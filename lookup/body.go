package lookup

import (
	"errors"
	"fmt"
	"os"
	"slices"
	stdsync "sync"

	"github.com/sirupsen/logrus"
)

// bodyStore holds the certificates' bytes off the Go heap: each certificate's DER and the
// fields of its JSON element, back to back, written once to an append-only file that an
// index reads with ReadAt (one pread, no open). Offsets never move and written bytes never
// change, so every index built on one store reads it while the next appends to it. When the
// file cannot be created the bytes are kept in memory instead, in the same layout.
//
// The garbage collector marks the whole live heap in every cycle and net/http's per-request
// garbage makes cycles frequent, so bytes kept on the heap cost twice: memory, and marking
// (docs/BENCHMARKS.md, "Lookup memory, issue 17").
type bodyStore struct {
	dir string // where the file was created, for the next one (compaction)
	log logrus.FieldLogger

	mu   stdsync.Mutex // appends
	f    *os.File      // nil: in memory
	mem  []byte        // the bytes when f is nil; readers keep the slice as it was
	size int64         // bytes written

	// retired is the store this one replaced by compacting: indexes built on it may still
	// be answering requests, so it is closed only when the next index is built from this one.
	retired *bodyStore

	badMu stdsync.Mutex
	bad   map[[32]byte]bool // certificates whose bytes were found wrong: never reused
}

// newBodyStore creates a store in dir (os.TempDir() when ""), in memory when no file can be
// created there.
func newBodyStore(dir string, log logrus.FieldLogger) *bodyStore {
	s := &bodyStore{dir: dir, log: log}
	f, err := createBodyFile(dir)
	if err != nil {
		log.WithField("error", err.Error()).Warn("lookup: certificates kept in memory: no file for them")
		return s
	}
	s.f = f
	return s
}

// append writes b at the end of the store and returns where it starts.
func (s *bodyStore) append(b []byte) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := s.size
	if s.f == nil {
		s.mem = append(s.mem, b...)
	} else if _, err := s.f.WriteAt(b, at); err != nil {
		return 0, fmt.Errorf("lookup: write the certificates' file: %w", err)
	}
	s.size += int64(len(b))
	return at, nil
}

// view is the store as an index built now reads it.
func (s *bodyStore) view() storeView {
	s.mu.Lock()
	defer s.mu.Unlock()
	return storeView{store: s, mem: s.mem}
}

// close closes the file; reads of it fail from then on (os.ErrClosed), never returning
// other bytes.
func (s *bodyStore) close() {
	if s.f != nil {
		_ = s.f.Close() // nothing was written that a failure could lose
	}
}

// closeRetired closes the store this one replaced, if any.
func (s *bodyStore) closeRetired() {
	s.mu.Lock()
	r := s.retired
	s.retired = nil
	s.mu.Unlock()
	if r != nil {
		r.close()
	}
}

func (s *bodyStore) markBad(sum [32]byte) {
	s.badMu.Lock()
	defer s.badMu.Unlock()
	if s.bad == nil {
		s.bad = map[[32]byte]bool{}
	}
	s.bad[sum] = true
}

// takeBad returns the certificates found wrong since it was last called, and forgets them:
// the index being built fetches them again, to new bytes.
func (s *bodyStore) takeBad() map[[32]byte]bool {
	s.badMu.Lock()
	defer s.badMu.Unlock()
	bad := s.bad
	s.bad = nil
	return bad
}

// hasBad says whether a certificate was found wrong since takeBad was last called.
func (s *bodyStore) hasBad() bool {
	s.badMu.Lock()
	defer s.badMu.Unlock()
	return len(s.bad) > 0
}

// storeView reads a store as one index knows it.
type storeView struct {
	store *bodyStore
	mem   []byte
}

var errShortRead = errors.New("short read")

// readAt appends the n bytes at off to dst.
func (v storeView) readAt(dst []byte, off int64, n int) ([]byte, error) {
	if v.store.f == nil {
		if off < 0 || off+int64(n) > int64(len(v.mem)) {
			return dst, errShortRead
		}
		return append(dst, v.mem[off:off+int64(n)]...), nil
	}
	start := len(dst)
	dst = slices.Grow(dst, n)[:start+n]
	k, err := v.store.f.ReadAt(dst[start:], off)
	if k != n {
		if err == nil {
			err = errShortRead
		}
		return dst[:start], fmt.Errorf("lookup: read the certificates' file: %w", err)
	}
	return dst, nil
}
