package sync

import (
	"context"
	"crypto/sha256"
	"fmt"
	stdsync "sync"
	"time"

	"github.com/certgal/certgal/certsource"
)

// readResult is what the read phase gives the plan: the CA store's half and
// the directory's.
type readResult struct {
	storeResult
	users *userTable
	idx   *userIndex
	// When each part ended, from start: which one to look at when a pass is slow.
	start         time.Time
	directoryRead time.Duration
}

// storeResult is the CA store's half of the read.
type storeResult struct {
	// certificates is how many the store returned; problems what it skipped
	// (Snapshot.Problems). The snapshot itself goes once it is classified.
	certificates int
	problems     map[string]int
	ders         *derSource
	// calc has applied the rules that need the store alone (startCalculator).
	calc            *calculator
	err             error
	read, processed time.Duration
}

// read is the pass's first phase: the CA store and the directory, read at
// once, but for a one-pass process and a daemon's first pass, which read the
// store first (below), and a pass whose store has files it had not read
// (newFiles; with a newFirstSource, the directory's first user waits until
// the store's read has met such a file or ended). A daemon's pass finds every value in the
// classifier's cache, and the store's files are read while the directory
// sends its pages.
// A value not in the cache waits for the store's certificates (it is most
// likely one of them) before it is parsed, so a first pass verifies each
// certificate once. On failure, the string is the pass's result.
func (s *Syncer) read(ctx context.Context, now time.Time) (*readResult, string, error) {
	sourceLoaded, classesLoaded := s.caches.load(s.CacheDir)
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &readResult{start: time.Now()}
	storeDone := make(chan struct{})
	stored := make(chan storeResult, 1)
	fresh := &newFiles{c: make(chan struct{}), read: make(chan struct{})}
	go func() {
		defer close(storeDone)
		<-sourceLoaded
		sr := s.readStore(readCtx, now, classesLoaded, fresh, r.start)
		if sr.err != nil {
			cancel() // the directory's half is of no use now
		}
		sr.processed = time.Since(r.start)
		stored <- sr
	}()
	if s.OnePass || !s.passed {
		// A one-pass process drops the source's memory of its files before
		// the users arrive (memory.storeRead); a daemon's first pass has its
		// peak then, and nothing waits for it. Later passes want the time.
		<-storeDone
	}
	var dirErr error
	r.users, r.idx, dirErr = s.readDirectory(readCtx, classesLoaded, storeDone, fresh)
	r.directoryRead = time.Since(r.start)
	r.storeResult = <-stored
	switch {
	case r.err != nil:
		return r, ResultSourceError, fmt.Errorf("read CA store: %w", r.err)
	case dirErr != nil:
		return r, ResultDirectoryError, fmt.Errorf("read directory: %w", dirErr)
	}
	return r, "", nil
}

// readStore reads the CA store and classifies it, then applies the rules
// that need the store alone while the directory streams.
func (s *Syncer) readStore(ctx context.Context, now time.Time, classesLoaded <-chan struct{}, fresh *newFiles, start time.Time) storeResult {
	snap, err := s.readSource(ctx, classesLoaded, fresh)
	close(fresh.read)
	r := storeResult{err: err, read: time.Since(start)}
	if err != nil {
		return r
	}
	r.certificates, r.problems = len(snap.Certificates), snap.Problems
	s.memory().storeRead()
	r.ders = newDERSource(s.source)
	in := Input{Policy: s.policy, Now: now, Revoked: revokedSerials(snap.Revocations), Frozen: snap.Frozen, Report: s.Report}
	certs, err := s.classes.SourceAll(snap.Certificates, r.ders.load)
	if err != nil {
		r.err = err
		return r
	}
	in.Known = make([]Known, len(snap.Certificates))
	for i, x := range certs {
		in.Known[i] = Known{Cert: x, Status: snap.Certificates[i].Status}
	}
	r.ders.classified(snap, certs)
	r.calc = startCalculator(in)
	s.metrics.countSource(r.calc.sourceStates())
	r.calc.forgetKnown()
	if fresh.any() {
		s.memory().storeParsed()
	}
	return r
}

// newFiles is closed by the store's read when it reads a file it had not
// read (a renewal's certificates, each parsed and verified while the pass
// holds the most): the directory's read then waits for the store's, and what
// the parsing left is collected in between (memory.storeParsed), so that the
// users do not arrive on top of it.
type newFiles struct {
	once stdsync.Once
	c    chan struct{}
	// read is closed once the store's read has returned.
	read chan struct{}
}

// known waits until it is known whether the store's read meets files it
// had not read: it has met one, or it has ended. The directory's read of a
// store that meets such files first (newFirstSource) waits for it before it
// takes its first user, which would otherwise be held, with the lists made
// for all, while the new files are parsed (docs/BENCHMARKS.md, "The renewal
// pass's read and planning").
func (n *newFiles) known() {
	select {
	case <-n.c:
	case <-n.read:
	}
}

// newFirstSource is a CA store whose read meets the files it had not read
// before the others, and ends at once when it finds nothing changed
// (certsource.OpenSSL): the directory's read waits for little when it
// waits until the store's read has met one or ended. Another store's read
// runs beside the directory's as it always has.
type newFirstSource interface {
	NewFilesFirst() bool
}

func (n *newFiles) seen() { n.once.Do(func() { close(n.c) }) }

func (n *newFiles) any() bool {
	select {
	case <-n.c:
		return true
	default:
		return false
	}
}

// readSource reads the CA store; what it parses is classified right there,
// on the source's goroutines, and nothing is parsed twice. The store reads
// while the classification cache is still loading; classifying waits for it.
func (s *Syncer) readSource(ctx context.Context, loaded <-chan struct{}, fresh *newFiles) (*certsource.Snapshot, error) {
	var snap *certsource.Snapshot
	var err error
	if u, ok := s.source.(certsource.UnparsedSource); ok {
		snap, err = u.ReadUnparsed(ctx, func(der []byte, h [32]byte) (string, error) {
			fresh.seen()
			<-loaded
			return s.classes.Inspect(der, h)
		})
	} else {
		snap, err = s.source.Read(ctx)
	}
	// A store read from its own cache asks Inspect nothing: the classifier's
	// file cache must still be in before SourceAll looks there.
	<-loaded
	return snap, err
}

// revokedSerials indexes the CRLs' revocations by issuer and serial, the
// serial written as Cert.SerialHex is.
func revokedSerials(revs []certsource.Revocation) map[certsource.IssuerID]map[string]bool {
	out := map[certsource.IssuerID]map[string]bool{}
	for _, r := range revs {
		if out[r.Issuer] == nil {
			out[r.Issuer] = map[string]bool{}
		}
		out[r.Issuer][certsource.SerialHex(r.Serial)] = true
	}
	return out
}

// readDirectory reads every user, classifying its values as they arrive.
// Its lists are sized as the last pass's were: growing maps
// of 100k entries rehashes them over and over.
func (s *Syncer) readDirectory(ctx context.Context, classesLoaded, storeDone <-chan struct{}, fresh *newFiles) (*userTable, *userIndex, error) {
	var users *userTable
	var idx *userIndex
	// Made when the first user is taken, not before: a pass whose store has
	// new files takes none until the store's read is done, and the lists,
	// as large as the last pass's, would be held while the store parses.
	start := func() {
		if users == nil {
			users = newUserTable(s.lastTable)
			idx = newUserIndex(s.lastTable, users.dn)
		}
	}
	src, _ := s.source.(newFirstSource)
	waitKnown := src != nil && src.NewFilesFirst()
	err := s.dir.Users(ctx, func(e Entry) error {
		<-classesLoaded
		if users == nil && waitKnown {
			fresh.known()
		}
		if fresh.any() {
			<-storeDone
		}
		start()
		u := s.userOf(e, storeDone, users.newValues(len(e.Certificates)))
		idx.add(users.len(), u)
		users.addRead(u)
		if s.Progress != nil {
			s.Progress.UsersRead.Add(1)
		}
		return nil
	})
	start()
	return users, idx, err
}

// user classifies e's values. A value the classifier has not cached waits
// until storeDone is closed (nil: no wait) before it is parsed.
func (s *Syncer) user(e Entry, storeDone <-chan struct{}) User {
	return s.userOf(e, storeDone, make([]*Cert, len(e.Certificates)))
}

// userOf is user, its values put in values (one for each of e's).
func (s *Syncer) userOf(e Entry, storeDone <-chan struct{}, values []*Cert) User {
	u := User{DN: e.DN, Addresses: e.Addresses, Values: values, CSN: e.CSN}
	for i, v := range e.Certificates {
		h := sha256.Sum256(v)
		if u.Values[i] = s.classes.known(h); u.Values[i] == nil {
			if storeDone != nil {
				<-storeDone
			}
			u.Values[i] = s.classes.directoryValue(v, h)
		}
	}
	for _, v := range e.SMIME {
		u.SMIME = append(u.SMIME, s.blobs.get(v, s.classes))
	}
	return u
}
