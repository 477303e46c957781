package sync

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/internal/parallel"
)

// applied is what the apply phase did.
type applied struct {
	entries int     // entries modified, in whole or in part
	errs    []error // one per entry not written, or written only in part
}

// apply is the pass's last phase: it writes the plan's entries on s.Workers
// connections. One entry's failure never stops the others; a conflict
// re-reads the entry and plans it once more. Once ctx is done no entry is
// started; one already started is finished (the connection's timeout still
// bounds it).
func (s *Syncer) apply(ctx context.Context, ders *derSource, calc *calculator, entries []EntryPlan) applied {
	if s.Progress != nil {
		s.Progress.EntriesTotal.Store(int64(len(entries)))
	}
	wrote := make([]bool, len(entries))
	errs := make([]error, len(entries))
	started := context.WithoutCancel(ctx)
	parallel.For(ctx, len(entries), parallel.Options{Workers: max(s.Workers, 1)}, func() func(int) {
		w := &writer{ders: ders}
		return func(i int) {
			wrote[i], errs[i] = s.applyEntry(started, w, calc, entries[i])
			if s.Progress != nil {
				s.Progress.EntriesDone.Add(1)
			}
		}
	})
	var out applied
	for i := range entries {
		if wrote[i] {
			out.entries++
		}
		if errs[i] != nil {
			out.errs = append(out.errs, errs[i])
		}
	}
	return out
}

// writer is one worker of the writes: the pass's DER, and what the worker
// uses again for each entry it writes.
type writer struct {
	ders *derSource
	// der holds the DER of the entry's values that the CA store reads again
	// (derSource.derInto), until its modify is sent: a renewal writes 10,000
	// entries, each adding one certificate and removing one, and a new slice
	// of each was a good part of what the writes allocated
	// (docs/BENCHMARKS.md, "The writes in the renewal pass, session 11").
	der []byte
	// fields and line log the changes of the entries written (logWritten).
	fields logrus.Fields
	line   *logrus.Entry
}

// derKept is the most of its DER buffer a writer keeps for the next entry:
// a few certificates' worth; an entry with more or larger ones is rare.
const derKept = 64 << 10

// interrupted is the error of a pass stopped before it wrote every entry.
func interrupted(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("pass interrupted: %w", err)
	}
	return nil
}

func (s *Syncer) applyEntry(ctx context.Context, w *writer, calc *calculator, e EntryPlan) (bool, error) {
	err := s.write(ctx, w, e)
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
			err = s.write(ctx, w, e)
		}
	}
	wrote := err == nil
	if errors.Is(err, ErrValueRejected) {
		wrote, err = s.writeWithoutAdds(ctx, w, e, err)
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
func (s *Syncer) writeWithoutAdds(ctx context.Context, w *writer, e EntryPlan, rejected error) (bool, error) {
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
	if err := s.write(ctx, w, rest); err != nil {
		return false, errors.Join(rejected, fmt.Errorf("modify %s without its new values: %w", e.DN, err))
	}
	return true, fmt.Errorf("%w; the entry's removals were written without its new values", rejected)
}

func (s *Syncer) write(ctx context.Context, w *writer, e EntryPlan) error {
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
	if err := e.encodeBlobs(w.ders.der); err != nil { // an entry planned again after a conflict
		return fmt.Errorf("modify %s: %w", e.DN, err)
	}
	m, err := s.modification(ctx, w, e)
	if err != nil {
		return err
	}
	if err := s.dir.Modify(ctx, m); err != nil {
		return err
	}
	s.logWritten(w, e)
	return nil
}

// logWritten logs and counts each line of an entry written. Every line of
// w's entries has its fields in w's one map, as logrus copies what it keeps
// of them: a renewal writes 10,000 entries of two lines each.
func (s *Syncer) logWritten(w *writer, e EntryPlan) {
	if w.fields == nil {
		w.fields = make(logrus.Fields, 7)
	}
	f := w.fields
	for _, l := range [][]Change{e.Removes, e.Adds, e.SMIMERemoves, e.SMIMEAdds} {
		for _, c := range l {
			s.metrics.changes.WithLabelValues(string(c.Action)).Inc()
			clear(f)
			f["dn"], f["email"], f["serial"], f["issuer"], f["reason"] = c.DN, c.Email, c.Serial, c.Issuer, c.Reason
			if c.Attribute != "" {
				f["attribute"], f["sha256"] = c.Attribute, c.SHA256
			}
			w.withFields(s.log).Info(string(c.Action))
		}
	}
	clear(f)
}

// withFields is log.WithFields(w.fields), but for a *logrus.Logger (the
// daemon's) w's own Entry of the map: the line is what WithFields's Entry
// would write, without WithFields's copies of the Entry and the map (a
// third of the garbage of each line: docs/BENCHMARKS.md, "The writes in the
// renewal pass, session 11").
func (w *writer) withFields(log logrus.FieldLogger) *logrus.Entry {
	l, ok := log.(*logrus.Logger)
	if !ok {
		return log.WithFields(w.fields)
	}
	if w.line == nil || w.line.Logger != l {
		w.line = &logrus.Entry{Logger: l}
	}
	w.line.Data = w.fields
	return w.line
}

// modification is e's Modification with the DER of its values: the CA
// store's read again, into w's buffer, and a value to remove that the store
// does not have (an owned value the pass knew from the file cache) from the
// entry itself, read again for it. A value gone from the entry meanwhile is a
// conflict. The Modification holds w's buffer until w's next modification.
func (s *Syncer) modification(ctx context.Context, w *writer, e EntryPlan) (Modification, error) {
	if cap(w.der) > derKept {
		w.der = nil
	}
	w.der = w.der[:0]
	var held map[[32]byte][]byte
	return e.Modification(func(c *Cert) ([]byte, error) {
		der, err := w.ders.derInto(&w.der, c)
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
