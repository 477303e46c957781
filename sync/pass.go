package sync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	stdsync "sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/certsource"
)

// DefaultWorkers is how many entries a pass modifies at once. slapd answered
// 100k modifies on this project's 2-core machine in 12.1 s with 4 connections,
// 11.7 s with 8, 9.8 s with 16 and 9.0 s with 32 (docs/BENCHMARKS.md): the
// server overlaps the modifies of several clients.
const DefaultWorkers = 16

// Syncer runs passes: read the CA store and the directory, calculate, apply.
// It keeps nothing between passes but the classification cache.
type Syncer struct {
	source  certsource.Source
	dir     Directory
	policy  Policy
	log     logrus.FieldLogger
	metrics *Metrics
	classes *Classifier
	blobs   *blobCache
	// Workers is how many entries are modified at once.
	Workers int
	// Progress, when set, is updated during the pass.
	Progress *Progress
	// CacheDir, when set, is where the classifier's file cache is kept
	// between processes (see cachefile.go); "" keeps it in memory only.
	CacheDir string
	// Report asks each pass for Plan.Report (`certgal report`).
	Report bool
	// Once says this process runs one pass (`certgal sync`): what only a later
	// pass of the same process would use, the source's memory of its files
	// once the store is read and the classifier's once the directory is too,
	// is dropped, unless it has something new for the file caches; and the
	// directory is read after the store, not beside it. At 100,000 users that
	// is 40 MB less while the pass reads and plans.
	Once        bool
	cacheLoaded bool
	passed      bool // a pass has read the store and the directory
	lastUsers   int  // how many users the last pass read
	now         func() time.Time
}

// NewSyncer wires a Syncer.
func NewSyncer(src certsource.Source, dir Directory, trust *certsource.Trust, pol Policy, log logrus.FieldLogger, m *Metrics) *Syncer {
	return &Syncer{source: src, dir: dir, policy: pol, log: log, metrics: m, classes: NewClassifier(trust), blobs: newBlobCache(), Workers: DefaultWorkers, now: time.Now}
}

// Result is the outcome of one pass.
type Result struct {
	Plan    *Plan
	Status  string // one of the Result* constants
	Applied int    // entries modified
	Failed  int    // entries not written, or written only in part
	Users   int
	// Certificates is how many certificates the CA store returned.
	Certificates int
	// DER finds the DER of a certificate of Plan (Published, say), which the
	// pass does not keep in memory: it may read the CA store again.
	DER func(*Cert) ([]byte, error)
	// Err joins every entry's error; nil when all entries were written.
	Err error
}

// Pass runs one reconcile. With dryRun it stops after planning. The error is
// for a pass that could not plan at all (source or directory failure); entry
// failures are in Result.Err.
func (s *Syncer) Pass(ctx context.Context, dryRun bool) (*Result, error) {
	start := s.now()
	res, err := s.pass(ctx, dryRun)
	s.metrics.duration.Observe(time.Since(start).Seconds())
	s.metrics.passes.WithLabelValues(res.Status).Inc()
	if res.Status == ResultSuccess {
		s.metrics.lastSuccess.SetToCurrentTime()
	}
	if res.Status == ResultSuccess || res.Status == ResultEntryErrors {
		s.metrics.entriesFailed.Set(float64(res.Failed))
	}
	fields := logrus.Fields{"result": res.Status, "users": res.Users, "certificates": res.Certificates,
		"duration": time.Since(start).Round(time.Millisecond).String()}
	if res.Plan != nil {
		adds, removes, _ := res.Plan.Counts()
		fields["adds"], fields["removes"], fields["entries_modified"] = adds, removes, res.Applied
		fields["skips"] = skipsByReason(res.Plan.Skips)
		if res.Plan.Blocked != "" {
			fields["blocked"] = res.Plan.Blocked
		}
	}
	if err != nil {
		fields["error"] = err.Error()
	} else if res.Err != nil {
		fields["entry_errors"] = len(joined(res.Err))
	}
	s.log.WithFields(fields).Info("pass finished")
	if !s.Once {
		// What the pass read and planned is garbage now. The collector would
		// size the next pass's heap by what was live at its last cycle, in
		// the middle of this one: at 100,000 users a daemon's peak RSS went
		// from 350 to 260 MB with this cycle, in the same pass time.
		collect()
	}
	return res, err
}

func (s *Syncer) pass(ctx context.Context, dryRun bool) (*Result, error) {
	defer s.classes.EndPass()
	defer s.blobs.endPass()
	// The file caches load while the directory connection is set up.
	sourceLoaded, loaded := s.loadCache()
	now := s.now()
	// The CA store and the directory are read at once (but for Once and a
	// daemon's first pass, below): a daemon's pass finds every value in the
	// classifier's cache, and the store's files are read while the directory
	// sends its pages. A value not in the cache waits for the store's
	// certificates (it is most likely one of them) before it is parsed, so a
	// first pass verifies each certificate once.
	readCtx, cancelRead := context.WithCancel(ctx)
	defer cancelRead()
	var (
		snap       *certsource.Snapshot
		ders       *derSource
		calc       *calculator
		srcErr     error
		sourceDone = make(chan struct{})
		// When each part of the pass ended: which one to look at when it is slow.
		t0                            = time.Now()
		storeRead, storeDone, dirRead time.Duration
	)
	go func() {
		defer close(sourceDone)
		defer func() { storeDone = time.Since(t0) }()
		<-sourceLoaded
		snap, srcErr = s.readSource(readCtx, loaded)
		storeRead = time.Since(t0)
		if srcErr != nil {
			cancelRead()
			return
		}
		if s.Once {
			s.dropSourceMemory()
		}
		ders = newDERSource(snap, s.source)
		in := Input{Policy: s.policy, Now: now, Revoked: map[certsource.IssuerID]map[string]bool{}, Frozen: snap.Frozen, Report: s.Report}
		for _, r := range snap.Revocations {
			if in.Revoked[r.Issuer] == nil {
				in.Revoked[r.Issuer] = map[string]bool{}
			}
			in.Revoked[r.Issuer][serialHex(r)] = true
		}
		in.Known = make([]Known, len(snap.Certificates))
		for i, x := range s.classes.SourceAll(snap.Certificates, ders.load) {
			in.Known[i] = Known{Cert: x, Status: snap.Certificates[i].Status}
		}
		// The rules that need the store alone run while the directory streams.
		calc = startCalculator(in)
		s.metrics.countSource(calc.sourceStates())
	}()
	if s.Once || !s.passed {
		// A one-pass process reads the store before the directory, so that
		// the source's memory of its files is dropped before the users
		// arrive: at 100,000 users the peak RSS of `certgal sync` went from
		// 186-217 to 183-185 MB, and its time from 1.2 to 1.6 s
		// (docs/BENCHMARKS.md, fourth round). A daemon's first pass does
		// too: its peak is the process's, and nothing is waiting for it.
		// Later passes have the memory and want the time.
		<-sourceDone
	}
	// Sized for as many users as the last pass read: growing maps of 100k
	// entries rehashes them over and over.
	users := make([]User, 0, s.lastUsers)
	idx := newUserIndex(s.lastUsers)
	err := s.dir.Users(readCtx, func(e Entry) error {
		<-loaded
		u := s.user(e, sourceDone)
		idx.add(len(users), u)
		users = append(users, u)
		if s.Progress != nil {
			s.Progress.UsersRead.Add(1)
		}
		return nil
	})
	dirRead = time.Since(t0)
	<-sourceDone
	if srcErr != nil {
		return &Result{Status: ResultSourceError}, fmt.Errorf("read CA store: %w", srcErr)
	}
	res := &Result{Certificates: len(snap.Certificates), DER: ders.der}
	for reason, n := range snap.Problems {
		s.metrics.skipped.WithLabelValues(reason).Add(float64(n))
	}
	res.Users = len(users)
	if err != nil {
		res.Status = ResultDirectoryError
		return res, fmt.Errorf("read directory: %w", err)
	}
	s.metrics.directoryUsers.Set(float64(len(users)))
	s.lastUsers = len(users)
	s.passed = true // not before: a pass that could not read both leaves the next one cold
	if s.Once {
		s.dropClassifierMemory()
	}

	calc.finish(users, idx)
	res.Plan = calc.plan()
	blobErrs := res.Plan.encodeBlobs(ders.der)
	for _, err := range blobErrs {
		s.metrics.entryErrors.Inc()
		s.log.WithField("error", err.Error()).Error("blob not written")
	}
	s.metrics.countCoverage(res.Plan, len(users))
	ms := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	s.log.WithFields(logrus.Fields{"store_read": ms(storeRead), "store_done": ms(storeDone), "directory_read": ms(dirRead),
		"planned": ms(time.Since(t0))}).Debug("pass phases")
	// Everything this pass needed is classified: what the file cache had
	// beyond that is gone from the store and the directory. Saving what is
	// new overlaps with the writes.
	s.classes.forgetSaved()
	saved := s.saveCache()
	defer func() { <-saved }()
	for _, c := range res.Plan.Skips {
		s.metrics.skipped.WithLabelValues(c.Reason).Inc()
		if c.Attribute != "" {
			// policy.smime_attribute report: say which blob, as nothing changes it.
			s.log.WithFields(logrus.Fields{"dn": c.DN, "email": c.Email, "serial": c.Serial, "sha256": c.SHA256,
				"attribute": c.Attribute, "reason": c.Reason}).Info("blob left as it is")
		}
	}
	if dryRun {
		res.Failed, res.Err = len(blobErrs), errors.Join(blobErrs...)
		res.Status = ResultDryRun
		return res, nil
	}
	// A blocked plan's entries are what is written all the same: the
	// removals of revoked keys (or nothing).
	applied, failed, err := s.apply(ctx, calc, ders, res.Plan.Entries)
	res.Applied, res.Failed = applied, len(blobErrs)+failed
	if err != nil {
		blobErrs = append(blobErrs, joined(err)...)
	}
	res.Err = errors.Join(blobErrs...)
	switch {
	case res.Plan.Blocked != "":
		res.Status = ResultBlocked
		s.log.WithFields(logrus.Fields{"reason": res.Plan.Blocked, "held": len(res.Plan.Held), "entries_written": res.Applied}).
			Error("pass blocked: only revocations written")
	case res.Err != nil:
		res.Status = ResultEntryErrors
	default:
		res.Status = ResultSuccess
	}
	return res, nil
}

// loadCache reads the file caches, the source's and the classifier's, once
// per Syncer; each channel is closed when that one is done. They are only
// caches: when one cannot be read, the pass does the work itself.
func (s *Syncer) loadCache() (sourceLoaded, classesLoaded <-chan struct{}) {
	srcDone, classDone := make(chan struct{}), make(chan struct{})
	if s.CacheDir == "" || s.cacheLoaded {
		close(srcDone)
		close(classDone)
		return srcDone, classDone
	}
	s.cacheLoaded = true
	go func() {
		defer close(srcDone)
		src, ok := s.source.(certsource.CachingSource)
		if !ok {
			return
		}
		start := time.Now()
		path, key := sourceCacheFile(s.CacheDir, src)
		body, err := openCacheFile(path, key)
		n := 0
		if err == nil && body != nil {
			defer body.Close()
			n, err = src.UnmarshalCache(body, body.size)
		}
		if err != nil {
			s.log.WithField("error", err.Error()).Warn("CA store cache not used")
			return
		}
		s.log.WithFields(logrus.Fields{"files": n, "duration": time.Since(start).Round(time.Millisecond).String()}).Debug("CA store cache loaded")
	}()
	go func() {
		defer close(classDone)
		start := time.Now()
		n, err := s.classes.LoadFile(s.CacheDir)
		if err != nil {
			s.log.WithField("error", err.Error()).Warn("classification cache not used")
			return
		}
		s.log.WithFields(logrus.Fields{"certificates": n, "duration": time.Since(start).Round(time.Millisecond).String()}).Debug("classification cache loaded")
	}()
	return srcDone, classDone
}

// dropSourceMemory forgets the source's memory of its files (see Once),
// unless the file cache is to get something new from it.
func (s *Syncer) dropSourceMemory() {
	if src, ok := s.source.(certsource.CachingSource); ok && (s.CacheDir == "" || !src.CacheChanged()) {
		src.DropCache()
		collect()
	}
}

// dropClassifierMemory forgets the classification of every certificate (see
// Once; each Cert the pass holds stays), unless the file cache is to get
// something new from it.
func (s *Syncer) dropClassifierMemory() {
	if s.CacheDir == "" || s.classes.Fresh() == 0 {
		s.classes.forget()
		collect()
	}
}

// collect runs the collector when much of the heap has just become garbage:
// after a drop, at the end of a daemon's pass. The collector sizes the heap by
// what was live at its last cycle, which had it: without a cycle now, the
// heap would still grow to twice that. At 100,000 users the two drops and
// their cycles took the peak RSS of `certgal sync` from 325 to 247 MB, in
// the same time (docs/BENCHMARKS.md, third round).
func collect() { runtime.GC() }

// sourceCacheFile is where the source's cache is kept, and its key.
func sourceCacheFile(dir string, src certsource.CachingSource) (string, [32]byte) {
	key := sha256.Sum256([]byte("source " + src.CacheKey()))
	return filepath.Join(dir, "source-"+hex.EncodeToString(key[:8])), key
}

// saveCache writes the file caches that have something new: the classifier's
// when this process classified certificates, the source's when it read files.
// The channel is closed when it is done.
func (s *Syncer) saveCache() <-chan struct{} {
	done := make(chan struct{})
	if s.CacheDir == "" {
		close(done)
		return done
	}
	src, _ := s.source.(certsource.CachingSource)
	classes, files := s.classes.Fresh() > 0, src != nil && src.CacheChanged()
	if !classes && !files {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		start := time.Now()
		fields := logrus.Fields{}
		if classes {
			n, err := s.classes.SaveFile(s.CacheDir)
			if err != nil {
				s.log.WithField("error", err.Error()).Warn("classification cache not saved")
			}
			fields["certificates"] = n
		}
		if files {
			path, key := sourceCacheFile(s.CacheDir, src)
			if err := writeCacheFile(s.CacheDir, path, key, src.MarshalCache()); err != nil {
				s.log.WithField("error", err.Error()).Warn("CA store cache not saved")
			}
		}
		fields["duration"] = time.Since(start).Round(time.Millisecond).String()
		s.log.WithFields(fields).Debug("file caches saved")
	}()
	return done
}

func serialHex(r certsource.Revocation) string {
	return fmt.Sprintf("%X", r.Serial)
}

// readSource reads the CA store; what it parses is classified right there,
// on the source's goroutines, and nothing is parsed twice. The store reads
// while the classification cache is still loading; classifying waits for it.
func (s *Syncer) readSource(ctx context.Context, loaded <-chan struct{}) (*certsource.Snapshot, error) {
	var snap *certsource.Snapshot
	var err error
	if u, ok := s.source.(certsource.UnparsedSource); ok {
		snap, err = u.ReadUnparsed(ctx, func(der []byte, h [32]byte) (string, error) {
			<-loaded
			return s.classes.Inspect(der, h)
		})
	} else {
		snap, err = s.source.Read(ctx)
	}
	// A store read from its own cache asks inspect nothing: the classifier's
	// file cache must still be in before SourceAll looks there.
	<-loaded
	return snap, err
}

// user classifies e's values. A value the classifier has not cached waits
// until sourceDone is closed (nil: no wait) before it is parsed.
func (s *Syncer) user(e Entry, sourceDone <-chan struct{}) User {
	u := User{DN: e.DN, Addresses: e.Addresses, Values: make([]*Cert, len(e.Certificates)), CSN: e.CSN}
	for i, v := range e.Certificates {
		h := sha256.Sum256(v)
		if u.Values[i] = s.classes.known(h); u.Values[i] == nil {
			if sourceDone != nil {
				<-sourceDone
			}
			u.Values[i] = s.classes.der(v, h)
		}
	}
	for _, v := range e.SMIME {
		u.SMIME = append(u.SMIME, s.blobs.get(v, s.classes))
	}
	return u
}

// apply writes the entries on s.Workers connections. One entry's failure never
// stops the others; a conflict re-reads the entry and plans it once more.
func (s *Syncer) apply(ctx context.Context, calc *calculator, ders *derSource, entries []EntryPlan) (applied, failed int, err error) {
	if s.Progress != nil {
		s.Progress.EntriesTotal.Store(int64(len(entries)))
	}
	work := make(chan EntryPlan)
	var (
		mu   stdsync.Mutex
		errs []error
		wg   stdsync.WaitGroup
	)
	for range max(s.Workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for e := range work {
				// An entry once started is finished even when the pass is being
				// stopped: the connection's timeout still bounds it.
				wrote, err := s.applyEntry(context.WithoutCancel(ctx), calc, ders, e)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				if wrote {
					applied++
				}
				mu.Unlock()
				if s.Progress != nil {
					s.Progress.EntriesDone.Add(1)
				}
			}
		}()
	}
feed:
	for _, e := range entries {
		select {
		case work <- e:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	failed = len(errs)
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("pass interrupted: %w", err))
	}
	return applied, failed, errors.Join(errs...)
}

func (s *Syncer) applyEntry(ctx context.Context, calc *calculator, ders *derSource, e EntryPlan) (bool, error) {
	err := s.write(ctx, ders, e)
	if errors.Is(err, ErrConflict) {
		s.log.WithField("dn", e.DN).Info("entry changed meanwhile; re-reading it")
		fresh, rerr := s.dir.User(ctx, e.DN)
		if rerr != nil {
			err = fmt.Errorf("re-read %s after conflict: %w", e.DN, rerr)
		} else {
			e, _ = calc.planUser(s.user(fresh, nil))
			if e.empty() {
				return false, nil
			}
			err = s.write(ctx, ders, e)
		}
	}
	wrote := err == nil
	if errors.Is(err, ErrValueRejected) {
		wrote, err = s.writeWithoutAdds(ctx, ders, e, err)
	}
	if err != nil {
		s.metrics.entryErrors.Inc()
		msg := "entry not written"
		if wrote {
			msg = "entry written in part"
		}
		s.log.WithFields(logrus.Fields{"dn": e.DN, "error": err.Error()}).Error(msg)
		return wrote, err
	}
	return true, nil
}

// writeWithoutAdds is the fallback when the directory refused a value e adds
// (MaxValueBytes catches the limits certgal knows; this is for the others):
// the entry's other changes are written without the adds, so a revoked value
// still leaves. The entry still counts as failed, as its new values are missing.
func (s *Syncer) writeWithoutAdds(ctx context.Context, ders *derSource, e EntryPlan, rejected error) (bool, error) {
	for _, c := range append(e.Adds[:len(e.Adds):len(e.Adds)], e.SMIMEAdds...) {
		s.metrics.skipped.WithLabelValues(ReasonValueRejected).Inc()
		s.log.WithFields(logrus.Fields{"dn": c.DN, "email": c.Email, "serial": c.Serial, "sha256": c.SHA256,
			"attribute": c.Attribute, "reason": ReasonValueRejected}).Warn("skip")
	}
	rest := e.withoutAdds()
	if rest.empty() {
		return false, rejected
	}
	s.log.WithField("dn", e.DN).Warn("directory refused a new value; writing the entry's other changes without it")
	if err := s.write(ctx, ders, rest); err != nil {
		return false, errors.Join(rejected, fmt.Errorf("modify %s without its new values: %w", e.DN, err))
	}
	return true, fmt.Errorf("%w; the entry's removals were written without its new values", rejected)
}

func (s *Syncer) write(ctx context.Context, ders *derSource, e EntryPlan) error {
	// Ownership was checked when planning; check again right before writing,
	// as a removal of a value certgal does not own must never reach the server.
	for _, c := range e.Removes {
		if !c.cert.Owned() {
			return fmt.Errorf("modify %s: refusing to remove serial %s: not issued by a trusted CA", e.DN, c.Serial)
		}
	}
	for _, c := range e.SMIMERemoves {
		if !c.blob.owned() {
			return fmt.Errorf("modify %s: refusing to remove %s blob %s: it holds a certificate certgal does not own", e.DN, AttrSMIME, c.SHA256)
		}
	}
	if err := e.encodeBlobs(ders.der); err != nil { // re-planned after a conflict
		return fmt.Errorf("modify %s: %w", e.DN, err)
	}
	m, err := s.modification(ctx, ders, e)
	if err != nil {
		return err
	}
	if err := s.dir.Modify(ctx, m); err != nil {
		return err
	}
	lines := append(e.Removes[:len(e.Removes):len(e.Removes)], e.Adds...)
	lines = append(append(lines, e.SMIMERemoves...), e.SMIMEAdds...)
	for _, c := range lines {
		s.metrics.changes.WithLabelValues(string(c.Action)).Inc()
		f := logrus.Fields{"dn": c.DN, "email": c.Email, "serial": c.Serial, "issuer": c.Issuer, "reason": c.Reason}
		if c.Attribute != "" {
			f["attribute"], f["sha256"] = c.Attribute, c.SHA256
		}
		s.log.WithFields(f).Info(string(c.Action))
	}
	return nil
}

// modification is e's Modification with the DER of its values: the CA
// store's read again, and a value to remove that the store does not have
// (an owned value the pass knew from the file cache) from the entry itself,
// read again for it. A value gone from the entry meanwhile is a conflict.
func (s *Syncer) modification(ctx context.Context, ders *derSource, e EntryPlan) (Modification, error) {
	var held map[[32]byte][]byte
	return e.Modification(func(c *Cert) ([]byte, error) {
		der, err := ders.der(c)
		if !errors.Is(err, errNotInStore) {
			return der, err
		}
		if held == nil {
			fresh, err := s.dir.User(ctx, e.DN)
			if err != nil {
				return nil, fmt.Errorf("re-read the entry for the value: %w", err)
			}
			held = make(map[[32]byte][]byte, len(fresh.Certificates))
			for _, v := range fresh.Certificates {
				held[sha256.Sum256(v)] = v
			}
		}
		if v, ok := held[c.Hash]; ok {
			return v, nil
		}
		return nil, fmt.Errorf("no longer in the entry: %w", ErrConflict)
	})
}

func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// skipsByReason renders skip counts for the pass's summary line: "no_user=2 max_values=1".
func skipsByReason(skips []Change) string {
	counts := map[string]int{}
	for _, c := range skips {
		counts[c.Reason]++
	}
	reasons := make([]string, 0, len(counts))
	for r := range counts {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	var b strings.Builder
	for i, r := range reasons {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", r, counts[r])
	}
	return b.String()
}
