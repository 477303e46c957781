package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certgal/certgal/certsource/catest"
	"github.com/certgal/certgal/ldapgal/ldaptest"
)

// world is one slapd and one OpenSSL CA with a certgal configuration for them.
type world struct {
	t     *testing.T
	slapd *ldaptest.Slapd
	ca    *catest.CA
	extra string // YAML appended to the policy section
	head  string // YAML put before everything else (schedule, log)
	// metricsListen and lookupListen are the listeners' addresses; "" disables them.
	metricsListen string
	lookupListen  string
	crls          []string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return &world{t: t, slapd: ldaptest.StartSlapd(t), ca: catest.New(t, "Corp S/MIME CA")}
}

func (w *world) writeConfig() string {
	w.t.Helper()
	dir := w.t.TempDir()
	pw := filepath.Join(dir, "bind-password")
	if err := os.WriteFile(pw, []byte(w.slapd.RootPW+"\n"), 0o600); err != nil {
		w.t.Fatal(err)
	}
	crls := ""
	if len(w.crls) > 0 {
		crls = fmt.Sprintf("    crl_files: [%s]\n", strings.Join(w.crls, ", "))
	}
	cfg := w.head + fmt.Sprintf(`source:
  kind: openssl
  openssl:
    dir: %s
%strust:
  ca_files: [%s]
directory:
  url: %s
  ca_file: %s
  bind_dn: %s
  bind_password_file: %s
  base_dn: %s
  timeout: 10s
policy:
  keep: newest
%slookup:
  listen: "%s"
metrics:
  listen: "%s"
`, w.ca.Dir, crls, w.ca.CertFile, w.slapd.LDAPSURL, w.slapd.CAFile, w.slapd.RootDN, pw, w.slapd.Suffix, w.extra, w.lookupListen, w.metricsListen)
	path := filepath.Join(dir, "certgal.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// sync runs `certgal sync` in-process and returns its exit status and output.
func (w *world) sync(args ...string) (int, string, string) {
	w.t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"sync", "-config", w.writeConfig()}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// mustSync runs a pass that must succeed and returns the modify operations it caused.
func (w *world) mustSync(args ...string) (int, string) {
	w.t.Helper()
	before := w.slapd.ModifyCount(w.t)
	code, out, errOut := w.sync(args...)
	if code != 0 {
		w.t.Fatalf("certgal sync exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	return w.slapd.ModifyCount(w.t) - before, out
}

func (w *world) user(uid string, mails ...string) string {
	return w.slapd.AddUser(w.t, "people", uid, mails...)
}

// assertCerts checks dn holds exactly the given values, in any order.
func (w *world) assertCerts(dn string, want ...[]byte) {
	w.t.Helper()
	got := w.slapd.Certs(w.t, dn)
	same := len(got) == len(want)
	for _, v := range want {
		same = same && slices.ContainsFunc(got, func(g []byte) bool { return bytes.Equal(g, v) })
	}
	if !same {
		w.t.Errorf("%s holds %s, want %s", dn, describe(got), describe(want))
	}
}

func describe(ders [][]byte) string {
	var s []string
	for _, d := range ders {
		c, err := x509.ParseCertificate(d)
		if err != nil {
			s = append(s, "unparseable")
			continue
		}
		s = append(s, fmt.Sprintf("%X(%s)", c.SerialNumber, c.Issuer.CommonName))
	}
	return "[" + strings.Join(s, " ") + "]"
}

func TestSyncFirstPublishThenNothingToDo(t *testing.T) {
	w := newWorld(t)
	alice := w.user("alice", "alice@corp.example")
	bob := w.user("bob", "Bob@Corp.Example")
	carol := w.user("carol", "carol@corp.example")
	a := w.ca.Issue(t, "alice@corp.example")
	b := w.ca.Issue(t, "bob@corp.example", catest.WithKey("rsa"))

	mods, out := w.mustSync()
	if mods != 2 {
		t.Errorf("first pass: %d modify operations, want 2\n%s", mods, out)
	}
	w.assertCerts(alice, a.DER)
	w.assertCerts(bob, b.DER)
	w.assertCerts(carol)

	mods, out = w.mustSync()
	if mods != 0 {
		t.Errorf("second pass against an unchanged CA: %d modify operations, want 0", mods)
	}
	if !strings.Contains(out, "plan: 0 to add, 0 to remove") {
		t.Errorf("second pass plan:\n%s", out)
	}
}

func TestSyncRenewalReplacesTheOldCertificate(t *testing.T) {
	renewalReplacesTheOldCertificate(t, newWorld(t))
}

func TestSyncRevocationInTheIndex(t *testing.T) { revocationInTheIndex(t, newWorld(t)) }

func TestSyncRevocationByCRLOnly(t *testing.T) { revocationByCRLOnly(t, newWorld(t)) }

func TestSyncExpiredValuesLeaveAfterGrace(t *testing.T) { expiredValuesLeaveAfterGrace(t, newWorld(t)) }

func TestSyncLeavesForeignAndSelfPublishedValues(t *testing.T) {
	leavesForeignAndSelfPublishedValues(t, newWorld(t))
}

func TestSyncSkipsAnAmbiguousAddress(t *testing.T) {
	w := newWorld(t)
	one := w.user("one", "shared@corp.example")
	two := w.user("two", "SHARED@corp.example")
	w.ca.Issue(t, "shared@corp.example")
	mods, out := w.mustSync()
	if mods != 0 {
		t.Errorf("%d modify operations, want 0", mods)
	}
	w.assertCerts(one)
	w.assertCerts(two)
	if !strings.Contains(out, "ambiguous_address") {
		t.Errorf("plan does not report the ambiguity:\n%s", out)
	}
}

func TestSyncDryRunWritesNothing(t *testing.T) {
	w := newWorld(t)
	alice := w.user("alice", "alice@corp.example")
	a := w.ca.Issue(t, "alice@corp.example")

	mods, out := w.mustSync("-dry-run")
	if mods != 0 {
		t.Errorf("dry run: %d modify operations, want 0", mods)
	}
	w.assertCerts(alice)
	if !strings.Contains(out, "add") || !strings.Contains(out, alice) || !strings.Contains(out, "serial="+a.Serial) {
		t.Errorf("dry-run plan:\n%s", out)
	}

	mods, out = w.mustSync("-dry-run", "-o", "json")
	if mods != 0 {
		t.Errorf("dry run: %d modify operations, want 0", mods)
	}
	var plan struct {
		Version int
		Summary struct{ Add, Remove, Skip int }
		Changes []struct{ Action, DN, Email, Serial, Reason string }
	}
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("JSON plan: %v\n%s", err, out)
	}
	if plan.Version != 1 || plan.Summary.Add != 1 || len(plan.Changes) != 1 ||
		plan.Changes[0].Action != "add" || plan.Changes[0].DN != alice || plan.Changes[0].Serial != a.Serial {
		t.Errorf("JSON plan: %+v", plan)
	}
}

func TestSyncSafetyStopsBeforeWriting(t *testing.T) {
	w := newWorld(t)
	alice := w.user("alice", "alice@corp.example")
	bob := w.user("bob", "bob@corp.example")
	dan := w.user("dan", "dan@corp.example")
	// Alice's and Bob's keys expired days ago and nothing replaces them: removing both would
	// leave two addresses without a key, one more than max_deletes allows. Dan's key is revoked.
	now := time.Now()
	expired := catest.WithValidity(now.Add(-400*24*time.Hour), now.Add(-3*24*time.Hour))
	a := w.ca.Issue(t, "alice@corp.example", expired)
	b := w.ca.Issue(t, "bob@corp.example", expired)
	d := w.ca.Issue(t, "dan@corp.example")
	w.mustSync()
	w.assertCerts(dan, d.DER)
	w.setCerts(alice, a.DER)
	w.setCerts(bob, b.DER)
	w.ca.Revoke(t, d.Serial, "keyCompromise")
	w.user("carol", "carol@corp.example")
	w.ca.Issue(t, "carol@corp.example")
	w.extra = "  max_deletes: 1\n"
	before := w.slapd.ModifyCount(t)
	code, out, errOut := w.sync()
	if code != 1 || !strings.Contains(errOut, "max_deletes") || !strings.Contains(out, "BLOCKED") {
		t.Errorf("exit %d, want 1 with a max_deletes message\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// The revocation is written all the same; nothing else is.
	if n := w.slapd.ModifyCount(t) - before; n != 1 {
		t.Errorf("blocked pass wrote %d modify operations, want 1 (the revocation)\n%s", n, out)
	}
	w.assertCerts(dan)
	w.assertCerts(alice, a.DER)
	w.assertCerts(bob, b.DER)
	before = w.slapd.ModifyCount(t)

	// A CA store that cannot be read deletes nothing either.
	w.extra = ""
	if err := os.Rename(filepath.Join(w.ca.Dir, "index.txt"), filepath.Join(w.ca.Dir, "index.txt.moved")); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = w.sync()
	if code != 1 || !strings.Contains(errOut, "index.txt") {
		t.Errorf("unreadable CA store: exit %d, want 1\n%s", code, errOut)
	}
	if n := w.slapd.ModifyCount(t) - before; n != 0 {
		t.Errorf("failed source: %d modify operations", n)
	}
	w.assertCerts(alice, a.DER)
	w.assertCerts(bob, b.DER)
}

func TestSyncExitStatuses(t *testing.T) {
	w := newWorld(t)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"sync"}, &stdout, &stderr); code != 2 {
		t.Errorf("sync without -config: exit %d, want 2", code)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(bad, []byte("bogus: 1\n"), 0o644)
	stderr.Reset()
	if code := run(context.Background(), []string{"sync", "-config", bad}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "bogus") {
		t.Errorf("bad config: exit %d, want 2\n%s", code, stderr.String())
	}
	if code, _, errOut := w.sync("-o", "yaml"); code != 2 {
		t.Errorf("-o yaml: exit %d, want 2\n%s", code, errOut)
	}
	w.slapd.RootPW = "wrong"
	if code, _, errOut := w.sync(); code != 1 || !strings.Contains(errOut, "Invalid Credentials") {
		t.Errorf("wrong bind password: exit %d, want 1\n%s", code, errOut)
	}
}

// TestSyncAddressWithFilterMetacharacters: an address built to break an LDAP
// filter reaches only its own entry. certgal puts no address into a filter at
// all (users are matched in memory after one search), and this keeps it so.
func TestSyncAddressWithFilterMetacharacters(t *testing.T) {
	w := newWorld(t)
	odd := `*)(uid=*))(|(uid=*@corp.example`
	mallory := w.user("mallory", odd)
	alice := w.user("alice", "alice@corp.example")
	now := time.Now()
	issued := w.ca.IssueMany(t, []string{odd}, now.Add(-time.Hour), now.Add(24*time.Hour))
	mods, out := w.mustSync()
	if mods != 1 {
		t.Errorf("%d modifies, want 1\n%s", mods, out)
	}
	w.assertCerts(mallory, issued[0].DER)
	w.assertCerts(alice)
}
