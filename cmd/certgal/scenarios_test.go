package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgal/certgal/certsource/catest"
)

// dirWorld is what the scenarios every directory must pass need of a world: the slapd one
// (world) and the Samba AD one (adWorld). Each scenario is written once and run against both.
type dirWorld interface {
	authority() *catest.CA
	// addUser adds a user with one mail address and returns its DN.
	addUser(name, mail string) string
	setCerts(dn string, ders ...[]byte)
	setCRLs(paths ...string)
	// mustSync runs a pass that must succeed; writes is how many entries the server wrote.
	mustSync(args ...string) (writes int, out string)
	assertCerts(dn string, want ...[]byte)
}

func (w *world) authority() *catest.CA              { return w.ca }
func (w *world) addUser(name, mail string) string   { return w.user(name, mail) }
func (w *world) setCerts(dn string, ders ...[]byte) { w.slapd.SetCerts(w.t, dn, ders...) }
func (w *world) setCRLs(paths ...string)            { w.crls = paths }

func (w *adWorld) authority() *catest.CA              { return w.ca }
func (w *adWorld) addUser(name, mail string) string   { return w.user(name, mail) }
func (w *adWorld) setCerts(dn string, ders ...[]byte) { w.dc.SetCerts(w.t, dn, ders...) }
func (w *adWorld) setCRLs(paths ...string)            { w.crls = paths }

// A renewal replaces the old certificate in the same write that adds the new one.
func renewalReplacesTheOldCertificate(t *testing.T, w dirWorld) {
	ca := w.authority()
	alice := w.addUser("alice", "alice@corp.example")
	now := time.Now()
	old := ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-48*time.Hour), now.Add(300*24*time.Hour)))
	w.mustSync()
	w.assertCerts(alice, old.DER)

	renewed := ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-time.Hour), now.Add(365*24*time.Hour)))
	writes, out := w.mustSync()
	if writes != 1 {
		t.Errorf("renewal: %d writes, want 1 (delete and add in one modify)", writes)
	}
	w.assertCerts(alice, renewed.DER)
	if !strings.Contains(out, "superseded") {
		t.Errorf("plan does not say why the old certificate left:\n%s", out)
	}
}

// A certificate index.txt marks revoked leaves.
func revocationInTheIndex(t *testing.T, w dirWorld) {
	ca := w.authority()
	alice := w.addUser("alice", "alice@corp.example")
	a := ca.Issue(t, "alice@corp.example")
	w.mustSync()
	w.assertCerts(alice, a.DER)

	ca.Revoke(t, a.Serial, "keyCompromise")
	writes, out := w.mustSync()
	w.assertCerts(alice)
	if writes != 1 || !strings.Contains(out, "revoked") {
		t.Errorf("%d writes (want 1), plan:\n%s", writes, out)
	}
}

// A certificate only the CRL says is revoked (index.txt still says valid) leaves too.
func revocationByCRLOnly(t *testing.T, w dirWorld) {
	ca := w.authority()
	alice := w.addUser("alice", "alice@corp.example")
	bob := w.addUser("bob", "bob@corp.example")
	a := ca.Issue(t, "alice@corp.example")
	b := ca.Issue(t, "bob@corp.example")
	w.mustSync()

	// Put index.txt back as it was before `openssl ca -revoke`.
	index := filepath.Join(ca.Dir, "index.txt")
	saved, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	ca.Revoke(t, a.Serial, "keyCompromise")
	w.setCRLs(ca.CRL(t, true))
	if err := os.WriteFile(index, saved, 0o644); err != nil {
		t.Fatal(err)
	}
	writes, _ := w.mustSync()
	w.assertCerts(alice)
	w.assertCerts(bob, b.DER)
	if writes != 1 {
		t.Errorf("%d writes, want 1", writes)
	}
}

// An expired value leaves once the grace period (24 h by default) is over, not before.
func expiredValuesLeaveAfterGrace(t *testing.T, w dirWorld) {
	ca := w.authority()
	alice := w.addUser("alice", "alice@corp.example")
	now := time.Now()
	long := ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-20*24*time.Hour), now.Add(-48*time.Hour)))
	recent := ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-20*24*time.Hour), now.Add(-time.Hour)))
	w.setCerts(alice, long.DER, recent.DER)

	w.mustSync()
	w.assertCerts(alice, recent.DER)
}

// Values of other CAs, including one that copies our CA's subject DN with another key, are
// never touched, even when that CA revoked them; ours come and go beside them.
func leavesForeignAndSelfPublishedValues(t *testing.T, w dirWorld) {
	ca := w.authority()
	alice := w.addUser("alice", "alice@corp.example")
	impostor := catest.New(t, "Corp S/MIME CA") // our subject DN, another key
	foreign := impostor.Issue(t, "alice@corp.example")
	impostor.Revoke(t, foreign.Serial, "keyCompromise")
	other := catest.New(t, "Partner CA").Issue(t, "alice@corp.example")
	w.setCerts(alice, foreign.DER, other.DER)

	ours := ca.Issue(t, "alice@corp.example")
	if writes, _ := w.mustSync(); writes != 1 {
		t.Errorf("%d writes, want 1", writes)
	}
	w.assertCerts(alice, foreign.DER, other.DER, ours.DER)

	ca.Revoke(t, ours.Serial, "superseded")
	w.mustSync()
	w.assertCerts(alice, foreign.DER, other.DER)
}
