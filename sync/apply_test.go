package sync

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/certsource"
)

// memDir is a directory in memory that records every modify and refuses the
// values in refuse, as a server refuses a value beyond a limit it has. What
// it keeps of a modify is a copy, as the pass uses its values' memory again.
type memDir struct {
	entries map[string]*Entry
	mods    []Modification
	refuse  [][]byte
}

func (d *memDir) Users(_ context.Context, fn func(Entry) error) error {
	for _, dn := range slices.Sorted(func(yield func(string) bool) {
		for dn := range d.entries {
			if !yield(dn) {
				return
			}
		}
	}) {
		if err := fn(*d.entries[dn]); err != nil {
			return err
		}
	}
	return nil
}

func (d *memDir) User(_ context.Context, dn string) (Entry, error) {
	e, ok := d.entries[dn]
	if !ok {
		return Entry{}, fmt.Errorf("read %s: no such entry", dn)
	}
	return *e, nil
}

func (d *memDir) Modify(_ context.Context, m Modification) error {
	for _, l := range []*[][]byte{&m.Add, &m.Delete, &m.SMIMEAdd, &m.SMIMEDelete} {
		*l = slices.Clone(*l)
		for i, v := range *l {
			(*l)[i] = bytes.Clone(v)
		}
	}
	d.mods = append(d.mods, m)
	for _, v := range append(append([][]byte(nil), m.Add...), m.SMIMEAdd...) {
		if slices.ContainsFunc(d.refuse, func(r []byte) bool { return bytes.Equal(r, v) }) {
			return fmt.Errorf("modify %s: %w: result 21", m.DN, ErrValueRejected)
		}
	}
	e := d.entries[m.DN]
	drop := func(vals, del [][]byte) [][]byte {
		return slices.DeleteFunc(vals, func(v []byte) bool {
			return slices.ContainsFunc(del, func(x []byte) bool { return bytes.Equal(x, v) })
		})
	}
	e.Certificates = append(drop(e.Certificates, m.Delete), m.Add...)
	if m.SMIMEReplace {
		e.SMIME = m.SMIMEAdd
	} else {
		e.SMIME = append(drop(e.SMIME, m.SMIMEDelete), m.SMIMEAdd...)
	}
	return nil
}

type memSource struct{ snap *certsource.Snapshot }

func (s memSource) Read(context.Context) (*certsource.Snapshot, error) { return s.snap, nil }

func TestPassWritesCertificatesAndBlobInOneModify(t *testing.T) {
	ca := newTestCA(t, "Corp Issuing CA")
	old := ca.issue(t, leaf{serial: 1, emails: mail(alice), notBefore: time.Now().Add(-48 * time.Hour)})
	cur := ca.issue(t, leaf{serial: 2, emails: mail(alice), notBefore: time.Now().Add(-time.Hour)})
	staleBlob, err := pkcs7Of(old)
	if err != nil {
		t.Fatal(err)
	}
	dir := &memDir{entries: map[string]*Entry{
		"cn=alice": {DN: "cn=alice", Addresses: mail(alice), Certificates: [][]byte{old.Raw}, SMIME: [][]byte{staleBlob}},
	}}
	s := newMemSyncer(t, ca, dir, Policy{MaxValues: 15, MaxDeletes: 10, SMIME: SMIMEManage}, old, cur)

	res, err := s.Pass(context.Background(), false)
	if err != nil || res.Err != nil {
		t.Fatalf("pass: %v, %v", err, res.Err)
	}
	if len(dir.mods) != 1 {
		t.Fatalf("%d modify operations, want 1", len(dir.mods))
	}
	m := dir.mods[0]
	if len(m.Delete) != 1 || len(m.Add) != 1 || len(m.SMIMEDelete) != 1 || len(m.SMIMEAdd) != 1 || m.SMIMEReplace {
		t.Errorf("modify: %d/%d certificates deleted/added, %d/%d blobs, replace %v; want 1/1, 1/1, false",
			len(m.Delete), len(m.Add), len(m.SMIMEDelete), len(m.SMIMEAdd), m.SMIMEReplace)
	}
	got := dir.entries["cn=alice"]
	if certs, err := ParseSMIME(got.SMIME[0]); err != nil || len(certs) != 1 || !bytes.Equal(certs[0].Raw, cur.Raw) {
		t.Errorf("managed blob: %v", err)
	}

	dir.mods = nil
	if res, err := s.Pass(context.Background(), false); err != nil || res.Err != nil || len(dir.mods) != 0 {
		t.Errorf("second pass: %d modify operations (%v, %v), want none", len(dir.mods), err, res.Err)
	}
}

func TestPassWritesTheRestWhenAValueIsRefused(t *testing.T) {
	ca := newTestCA(t, "Corp Issuing CA")
	old := ca.issue(t, leaf{serial: 1, emails: mail(alice), notBefore: time.Now().Add(-48 * time.Hour)})
	revoked := ca.issue(t, leaf{serial: 2, emails: mail(alice), notBefore: time.Now().Add(-72 * time.Hour)})
	cur := ca.issue(t, leaf{serial: 3, emails: mail(alice), notBefore: time.Now().Add(-time.Hour)})
	bob := ca.issue(t, leaf{serial: 4, emails: mail("bob@corp.example")})
	dir := &memDir{
		entries: map[string]*Entry{
			"cn=alice": {DN: "cn=alice", Addresses: mail(alice), Certificates: [][]byte{old.Raw, revoked.Raw}},
			"cn=bob":   {DN: "cn=bob", Addresses: mail("bob@corp.example")},
		},
		refuse: [][]byte{cur.Raw},
	}
	s := newMemSyncer(t, ca, dir, Policy{MaxValues: 15, MaxDeletes: 10}, old, revoked, cur, bob)
	s.Workers = 1
	snap := s.source.(memSource).snap
	snap.Certificates[1].Status = certsource.StatusRevoked

	res, err := s.Pass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res.Err, ErrValueRejected) || res.Status != ResultEntryErrors {
		t.Errorf("result %s, %v; want entry_errors wrapping ErrValueRejected", res.Status, res.Err)
	}
	if res.Applied != 2 {
		t.Errorf("%d entries written, want 2 (alice in part, bob)", res.Applied)
	}
	// The revoked value left; the superseded one stays, as its successor did not arrive.
	a := dir.entries["cn=alice"]
	if len(a.Certificates) != 1 || !bytes.Equal(a.Certificates[0], old.Raw) {
		t.Errorf("alice holds %d values, want only the old one", len(a.Certificates))
	}
	if b := dir.entries["cn=bob"]; len(b.Certificates) != 1 {
		t.Errorf("bob holds %d values, want 1: another entry's refusal stops nothing", len(b.Certificates))
	}
	if n := testutil.ToFloat64(s.metrics.skipped.WithLabelValues(ReasonValueRejected)); n != 1 {
		t.Errorf("skipped{value_rejected} = %v, want 1", n)
	}
	if n := testutil.ToFloat64(s.metrics.entryErrors); n != 1 {
		t.Errorf("entry errors = %v, want 1", n)
	}
	if res.Failed != 1 || testutil.ToFloat64(s.metrics.entriesFailed) != 1 {
		t.Errorf("failed entries %d, gauge %v; want 1", res.Failed, testutil.ToFloat64(s.metrics.entriesFailed))
	}
	// The gauge is the last writing pass's: alice fails again, and only once.
	if _, err := s.Pass(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	if n := testutil.ToFloat64(s.metrics.entriesFailed); n != 1 {
		t.Errorf("after the next pass: entries failed %v, want 1", n)
	}
}

// conflictDir is a memDir where another writer changes an entry between
// the pass's read and its first modify of it, which then fails as a conflict.
type conflictDir struct {
	*memDir
	meanwhile map[string]func(*Entry)
}

func (d *conflictDir) Modify(ctx context.Context, m Modification) error {
	if change, ok := d.meanwhile[m.DN]; ok {
		delete(d.meanwhile, m.DN)
		change(d.entries[m.DN])
		return fmt.Errorf("modify %s: %w", m.DN, ErrConflict)
	}
	return d.memDir.Modify(ctx, m)
}

// An entry that changed after the pass read it is read again and planned
// once more by the pass's rules, with its candidates, once everything else
// the pass read is dropped before the writes (calculator.keepFor).
func TestPassPlansAnEntryAgainAfterAConflict(t *testing.T) {
	ca := newTestCA(t, "Corp Issuing CA")
	old := ca.issue(t, leaf{serial: 1, emails: mail(alice), notBefore: time.Now().Add(-48 * time.Hour)})
	cur := ca.issue(t, leaf{serial: 2, emails: mail(alice), notBefore: time.Now().Add(-time.Hour)})
	bob := ca.issue(t, leaf{serial: 3, emails: mail("bob@corp.example")})
	dir := &conflictDir{
		memDir: &memDir{entries: map[string]*Entry{
			"cn=alice": {DN: "cn=alice", Addresses: mail(alice), Certificates: [][]byte{old.Raw}},
			"cn=bob":   {DN: "cn=bob", Addresses: mail("bob@corp.example")},
		}},
		// Another writer publishes alice's new certificate first: only
		// the superseded one is left to remove.
		meanwhile: map[string]func(*Entry){"cn=alice": func(e *Entry) { e.Certificates = append(e.Certificates, cur.Raw) }},
	}
	s := newMemSyncer(t, ca, dir, Policy{MaxValues: 15, MaxDeletes: 10}, old, cur, bob)
	s.Workers = 1

	res, err := s.Pass(context.Background(), false)
	if err != nil || res.Err != nil {
		t.Fatalf("pass: %v, %v", err, res.Err)
	}
	if res.Applied != 2 {
		t.Errorf("%d entries written, want 2", res.Applied)
	}
	var again *Modification
	for i, m := range dir.mods {
		if m.DN == "cn=alice" {
			again = &dir.mods[i]
		}
	}
	if again == nil || len(again.Add) != 0 || len(again.Delete) != 1 || !bytes.Equal(again.Delete[0], old.Raw) {
		t.Fatalf("alice's modify after the conflict: %+v, want the old value's removal alone", again)
	}
	if a := dir.entries["cn=alice"]; len(a.Certificates) != 1 || !bytes.Equal(a.Certificates[0], cur.Raw) {
		t.Errorf("alice holds %d values, want the current one alone", len(a.Certificates))
	}
	if b := dir.entries["cn=bob"]; len(b.Certificates) != 1 || !bytes.Equal(b.Certificates[0], bob.Raw) {
		t.Errorf("bob holds %d values, want his certificate", len(b.Certificates))
	}
}

func pkcs7Of(certs ...*x509.Certificate) ([]byte, error) {
	var cs []*Cert
	for _, x := range certs {
		cs = append(cs, certFields{DER: x.Raw}.cert())
	}
	return EncodeSMIME(cs)
}

func newMemSyncer(t *testing.T, ca *testCA, dir Directory, pol Policy, certs ...*x509.Certificate) *Syncer {
	t.Helper()
	snap := &certsource.Snapshot{}
	for _, x := range certs {
		snap.Certificates = append(snap.Certificates, certsource.NewCertificate(x, "test"))
	}
	pol.ExpiredGrace = 24 * time.Hour
	log, _ := test.NewNullLogger()
	trust := certsource.NewTrust([]*x509.Certificate{ca.cert})
	return NewSyncer(memSource{snap}, dir, trust, pol, log, NewMetrics(prometheus.NewRegistry()))
}
