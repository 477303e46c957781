package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/certsource/catest"
	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/internal/racedir"
	"github.com/certgal/certgal/ldapgal"
	"github.com/certgal/certgal/sync"
)

// racingPass runs one pass wired as `certgal sync` wires it from the
// configuration at path, with race[dn] run right before the first modify of dn.
// It returns the result and the pass's log.
func racingPass(t *testing.T, path string, race map[string]func()) (*sync.Result, *logtest.Hook) {
	t.Helper()
	cfg, err := config.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log, hook := logtest.NewNullLogger()
	parts, err := newPipelineParts(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := ldapgal.Open(context.Background(), cfg.Dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	racing := racedir.New(dir, race)
	s := sync.NewSyncer(parts.src, racing, parts.trust, dialectPolicy(cfg.Policy, dir.Dialect()),
		log, sync.NewMetrics(prometheus.NewRegistry()))
	res, err := s.Pass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if n := racing.Pending(); n > 0 {
		t.Fatalf("%d races did not run: no modify of their entries", n)
	}
	return res, hook
}

// reread reports whether the pass re-read an entry after a conflict.
func reread(hook *logtest.Hook) bool {
	for _, e := range hook.AllEntries() {
		if strings.Contains(e.Message, "re-reading") {
			return true
		}
	}
	return false
}

// rekeyedTwin issues for email, from a new CA with ca's subject DN and another
// key whose serial file starts where is was issued, a certificate with is's
// issuer and serial in other bytes: what a CA re-keyed without keeping its
// serial file makes.
func rekeyedTwin(t *testing.T, ca *catest.CA, is catest.Issued, email string) catest.Issued {
	t.Helper()
	other := catest.New(t, ca.Cert.Subject.CommonName)
	if err := os.WriteFile(filepath.Join(other.Dir, "serial"), []byte(is.Serial+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	twin := other.Issue(t, email)
	a, errA := x509.ParseCertificate(is.DER)
	b, errB := x509.ParseCertificate(twin.DER)
	if errA != nil || errB != nil || !bytes.Equal(a.RawIssuer, b.RawIssuer) || a.SerialNumber.Cmp(b.SerialNumber) != 0 || bytes.Equal(a.Raw, b.Raw) {
		t.Fatalf("twin of %s: serial %s, same issuer %v: not a twin", is.Serial, twin.Serial, bytes.Equal(a.RawIssuer, b.RawIssuer))
	}
	return twin
}

// slapd deletes a userCertificate value by issuer and serial. Our revoked
// value, replaced by a re-keyed CA's certificate with the same issuer and
// serial after certgal's read, must not take that certificate with it: the
// delete asserts the entryCSN of the read, slapd refuses it, the pass reads
// the entry again and finds nothing of certgal's to remove.
func TestOpenLDAPDeleteSparesATwinWrittenSinceTheRead(t *testing.T) {
	w := newWorld(t)
	alice := w.user("alice", "alice@corp.example")
	ours := w.ca.Issue(t, "alice@corp.example")
	w.mustSync()
	w.assertCerts(alice, ours.DER)
	w.ca.Revoke(t, ours.Serial, "keyCompromise")
	twin := rekeyedTwin(t, w.ca, ours, "alice@corp.example")

	res, hook := racingPass(t, w.writeConfig(), map[string]func(){alice: func() { w.slapd.SetCerts(t, alice, twin.DER) }})
	if res.Err != nil || res.Status != sync.ResultSuccess {
		t.Errorf("pass: %s, %v", res.Status, res.Err)
	}
	if !reread(hook) {
		t.Error("the pass did not re-read the entry after the refused delete")
	}
	w.assertCerts(alice, twin.DER)

	mods, out := w.mustSync()
	if mods != 0 || !strings.Contains(out, "plan: 0 to add, 0 to remove") {
		t.Errorf("next pass: %d modify operations, want 0\n%s", mods, out)
	}
	w.assertCerts(alice, twin.DER)
}

// On slapd userSMIMECertificate is replaced whole. Outlook publishing its
// blob between certgal's read and write must not be overwritten: the replace
// asserts the entryCSN, slapd refuses it, and the pass plans the entry again
// from what it holds now (the foreign blob stays, the certificate is renewed).
func TestOpenLDAPSMIMEReplaceSparesABlobWrittenSinceTheRead(t *testing.T) {
	w := newWorld(t)
	w.extra = "  smime_attribute: manage\n"
	alice := w.user("alice", "alice@corp.example")
	now := time.Now()
	w.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-48*time.Hour), now.Add(300*24*time.Hour)))
	w.mustSync()
	if blobs := slapdSMIME(t, w.slapd, alice); len(blobs) != 1 {
		t.Fatalf("first pass: %d blobs, want the managed one", len(blobs))
	}
	cur := w.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-time.Hour), now.Add(365*24*time.Hour)))
	foreign := blobOf(t, catest.New(t, "Partner CA").Issue(t, "alice@corp.example").DER)

	outlook := func() {
		conn := w.slapd.Conn(t)
		req := ldap.NewModifyRequest(alice, nil)
		req.Replace(sync.AttrSMIME, []string{string(foreign)})
		if err := conn.Modify(req); err != nil {
			t.Fatal(err)
		}
	}
	res, hook := racingPass(t, w.writeConfig(), map[string]func(){alice: outlook})
	if res.Err != nil || res.Status != sync.ResultSuccess {
		t.Errorf("pass: %s, %v", res.Status, res.Err)
	}
	if !reread(hook) {
		t.Error("the pass did not re-read the entry after the refused replace")
	}
	assertSameValues(t, alice+" "+sync.AttrSMIME, slapdSMIME(t, w.slapd, alice), [][]byte{foreign})
	w.assertCerts(alice, cur.DER)

	mods, out := w.mustSync()
	if mods != 0 || !strings.Contains(out, "foreign_smime") {
		t.Errorf("next pass: %d modify operations, want 0 and the foreign blob reported\n%s", mods, out)
	}
	assertSameValues(t, alice+" "+sync.AttrSMIME, slapdSMIME(t, w.slapd, alice), [][]byte{foreign})
}

// AD compares userSMIMECertificate values by bytes: certgal deletes the exact
// old blob and adds the new one. A blob replaced between the read and the
// write makes that delete fail (16), which is a conflict: the pass reads the
// entry again, keeps the newcomer and adds its own.
func TestADSMIMEDeleteOfABlobReplacedSinceTheRead(t *testing.T) {
	w := newADWorld(t)
	w.extra = "  smime_attribute: manage\n"
	alice := w.user("alice", "alice@corp.example")
	now := time.Now()
	w.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-48*time.Hour), now.Add(300*24*time.Hour)))
	w.mustSync()
	if blobs := w.dc.SMIME(t, alice); len(blobs) != 1 {
		t.Fatalf("first pass: %d blobs, want the managed one", len(blobs))
	}
	cur := w.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-time.Hour), now.Add(365*24*time.Hour)))
	foreign := blobOf(t, catest.New(t, "Partner CA").Issue(t, "alice@corp.example").DER)

	res, hook := racingPass(t, w.writeConfig(), map[string]func(){alice: func() { w.dc.SetSMIME(t, alice, foreign) }})
	if res.Err != nil || res.Status != sync.ResultSuccess {
		t.Errorf("pass: %s, %v", res.Status, res.Err)
	}
	if !reread(hook) {
		t.Error("the pass did not re-read the entry after the refused delete")
	}
	w.assertCerts(alice, cur.DER)
	blobs := w.dc.SMIME(t, alice)
	if len(blobs) != 2 || !bytes.Equal(blobs[0], foreign) && !bytes.Equal(blobs[1], foreign) {
		t.Fatalf("%d blobs, want the foreign one and certgal's", len(blobs))
	}
	for _, b := range blobs {
		if !bytes.Equal(b, foreign) {
			assertOpenSSLReads(t, b, cur.DER)
		}
	}

	if writes, out := w.mustSync(); writes != 0 {
		t.Errorf("next pass: %d writes, want 0\n%s", writes, out)
	}
}

// The other way round: the entry holds a re-keyed CA's certificate, and our CA issues one
// with its issuer and serial. slapd would refuse ours as a duplicate on every pass; certgal
// skips it with a reason and the pass succeeds, the other value untouched.
func TestOpenLDAPTwinOfANewCertificateIsReportedNotAdded(t *testing.T) {
	w := newWorld(t)
	alice := w.user("alice", "alice@corp.example")
	other := catest.New(t, w.ca.Cert.Subject.CommonName)
	serial, err := os.ReadFile(filepath.Join(w.ca.Dir, "serial"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other.Dir, "serial"), serial, 0o644); err != nil {
		t.Fatal(err)
	}
	theirs := other.Issue(t, "alice@corp.example")
	w.setCerts(alice, theirs.DER)
	ours := w.ca.Issue(t, "alice@corp.example")
	if ours.Serial != theirs.Serial {
		t.Fatalf("serials %s and %s: not twins", ours.Serial, theirs.Serial)
	}
	mods, out := w.mustSync()
	if mods != 0 || !strings.Contains(out, "same_issuer_serial") {
		t.Errorf("%d modify operations, want 0 and a same_issuer_serial skip\n%s", mods, out)
	}
	w.assertCerts(alice, theirs.DER)
}
