package sync

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/certsource"
)

// DefaultWorkers is how many entries a pass modifies at once: slapd overlaps
// the modifies of several clients (docs/BENCHMARKS.md, "Write connections").
const DefaultWorkers = 16

// Syncer runs passes in three phases, each in a file of its own: read the CA
// store and the directory (read.go), plan with the pure Calculate (plan.go,
// calculate.go), apply the plan (apply.go). It keeps nothing between passes
// but the classification caches.
type Syncer struct {
	source  certsource.Source
	dir     Directory
	policy  Policy
	log     logrus.FieldLogger
	metrics *Metrics
	classes *Classifier
	blobs   *blobCache
	caches  *fileCaches
	// Workers is how many entries are modified at once.
	Workers int
	// Progress, when set, is updated during the pass.
	Progress *Progress
	// CacheDir, when set, is where the classifier's and the source's caches
	// are kept between processes (see cachefile.go); "" keeps them in memory only.
	CacheDir string
	// Report asks each pass for Plan.Report (`certgal report`).
	Report bool
	// OnePass says this process runs one pass (`certgal sync`): see memory,
	// and read, which then reads the store before the directory.
	OnePass   bool
	passed    bool      // a pass has read the store and the directory
	lastTable tableSize // how many users, addresses and values the last pass read
	now       func() time.Time
}

// NewSyncer wires a Syncer.
func NewSyncer(src certsource.Source, dir Directory, trust *certsource.Trust, pol Policy, log logrus.FieldLogger, m *Metrics) *Syncer {
	classes := NewClassifier(trust)
	return &Syncer{source: src, dir: dir, policy: pol, log: log, metrics: m, classes: classes, blobs: newBlobCache(),
		caches: &fileCaches{source: src, classes: classes, log: log}, Workers: DefaultWorkers, now: time.Now}
}

// memory is the garbage-collection policy of s's passes.
func (s *Syncer) memory() memory {
	return memory{onePass: s.OnePass, cacheDir: s.CacheDir, caches: s.caches}
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
	s.metrics.countPass(res, time.Since(start))
	s.logPass(res, err, start)
	return res, err
}

func (s *Syncer) pass(ctx context.Context, dryRun bool) (*Result, error) {
	defer s.classes.EndPass()
	defer s.blobs.endPass()
	r, failure, err := s.read(ctx, s.now())
	if failure == ResultSourceError {
		return &Result{Status: failure}, err
	}
	res := &Result{Certificates: r.certificates, Users: r.users.len(), DER: r.ders.der}
	s.metrics.countProblems(r.problems)
	if err != nil {
		res.Status = failure
		return res, err
	}
	s.metrics.directoryUsers.Set(float64(r.users.len()))
	s.lastTable, s.passed = r.users.size(), true // not before: a pass that could not read both leaves the next one cold
	s.memory().directoryRead()

	var errs []error
	res.Plan, errs = s.plan(r)
	// Everything this pass needed is classified: what the file cache had
	// beyond that is gone from the store and the directory. Saving what is
	// new overlaps with the writes.
	s.classes.forgetSaved()
	saved := s.caches.save(s.CacheDir)
	defer func() { <-saved }()
	if dryRun {
		res.Status, res.Failed, res.Err = ResultDryRun, len(errs), errors.Join(errs...)
		return res, nil
	}
	// A blocked plan's entries are what is written all the same: the
	// removals of revoked keys (or nothing). Of what read gathered, the
	// writes need the DER and the rules for an entry planned again: the
	// users and the rest go before them (calculator.keepFor), and of the
	// store's snapshot all but what the writes and the lookup may ask the DER
	// of (derSource.keepOnly: a pass that writes orders the snapshot by hash
	// for that anyway; one that does not keeps it as it is).
	ders, calc := r.ders, r.calc
	calc.keepFor(res.Plan.Entries)
	if len(res.Plan.Entries) > 0 {
		ders.keepOnly(toWriteOrServe(res.Plan, calc))
	}
	s.memory().writing(len(res.Plan.Entries))
	a := s.apply(ctx, ders, calc, res.Plan.Entries)
	s.memory().written(len(res.Plan.Entries))
	errs = append(errs, a.errs...)
	res.Applied, res.Failed = a.entries, len(errs)
	res.Err = errors.Join(append(errs, interrupted(ctx))...)
	res.Status = s.status(res)
	return res, nil
}

// status is the result of a pass that applied its plan.
func (s *Syncer) status(res *Result) string {
	switch {
	case res.Plan.Blocked != "":
		s.log.WithFields(logrus.Fields{"reason": res.Plan.Blocked, "held": len(res.Plan.Held), "entries_written": res.Applied}).
			Error("pass blocked: only revocations written")
		return ResultBlocked
	case res.Err != nil:
		return ResultEntryErrors
	}
	return ResultSuccess
}

// logPass writes the pass's summary line.
func (s *Syncer) logPass(res *Result, err error, start time.Time) {
	fields := logrus.Fields{"result": res.Status, "users": res.Users, "certificates": res.Certificates, "duration": since(start)}
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
