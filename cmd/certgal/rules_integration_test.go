package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/certsource/catest"
	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/lookup"
	"github.com/certgal/certgal/sync"
)

// The rules of "What gets published" against real CAs and directories: each test here failed
// before the rule it names was in place.

// A user's userCertificate also holds other certificates of the same CA: a smart-card logon
// certificate and a signing-only one. A new mail key replaces the old mail key only; the
// others stay and are reported, until the CA revokes one of them.
func otherCertificatesOfTheCAStay(t *testing.T, w dirWorld) {
	ca := w.authority()
	alice := w.addUser("alice", "alice@corp.example")
	now := time.Now()
	card := ca.Issue(t, "alice@corp.example", catest.WithExt("smartcard"), catest.WithValidity(now.Add(-72*time.Hour), now.Add(300*24*time.Hour)))
	sign := ca.Issue(t, "alice@corp.example", catest.WithExt("signonly"), catest.WithValidity(now.Add(-72*time.Hour), now.Add(300*24*time.Hour)))
	old := ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-48*time.Hour), now.Add(300*24*time.Hour)))
	w.setCerts(alice, card.DER, sign.DER, old.DER)

	cur := ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-time.Hour), now.Add(365*24*time.Hour)))
	_, out := w.mustSync()
	w.assertCerts(alice, card.DER, sign.DER, cur.DER)
	for _, want := range []string{"reason=superseded", "serial=" + card.Serial, "serial=" + sign.Serial, "not_publishable"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "remove  "+alice+"  alice@corp.example  serial="+card.Serial) {
		t.Errorf("the smart-card certificate is removed:\n%s", out)
	}

	// A revoked certificate of the CA leaves whatever it was for.
	ca.Revoke(t, card.Serial, "keyCompromise")
	w.mustSync()
	w.assertCerts(alice, sign.DER, cur.DER)
}

func TestOtherCertificatesOfTheCAStay(t *testing.T) { otherCertificatesOfTheCAStay(t, newWorld(t)) }

func TestADOtherCertificatesOfTheCAStay(t *testing.T) {
	otherCertificatesOfTheCAStay(t, newADWorld(t))
}

// Five renewals and one keyCompromise revocation in one pass, with max_deletes 2: none of
// them leaves an address without a key, so nothing is blocked and everything is written.
func TestRenewalsAndRevocationsAreNotHeldByMaxDeletes(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	var dns []string
	var old []catest.Issued
	for i := range 6 {
		mail := fmt.Sprintf("user%d@corp.example", i)
		dns = append(dns, w.user(fmt.Sprintf("user%d", i), mail))
		old = append(old, w.ca.Issue(t, mail, catest.WithValidity(now.Add(-48*time.Hour), now.Add(300*24*time.Hour))))
	}
	w.mustSync()

	var renewed []catest.Issued
	for i := range 5 {
		renewed = append(renewed, w.ca.Issue(t, fmt.Sprintf("user%d@corp.example", i), catest.WithValidity(now.Add(-time.Hour), now.Add(365*24*time.Hour))))
	}
	w.ca.Revoke(t, old[5].Serial, "keyCompromise")
	w.extra = "  max_deletes: 2\n"
	writes, out := w.mustSync()
	if writes != 6 || strings.Contains(out, "BLOCKED") {
		t.Errorf("%d writes, want 6, plan:\n%s", writes, out)
	}
	for i := range 5 {
		w.assertCerts(dns[i], renewed[i].DER)
	}
	w.assertCerts(dns[5])
}

// A user with two addresses and a certificate for each keeps both, and the lookup answers
// each address with the certificate that carries it.
func TestOneCurrentKeyPerAddress(t *testing.T) {
	w := newWorld(t)
	ann := w.user("ann", "ann@corp.example", "ann@sub.example")
	now := time.Now()
	corp := w.ca.Issue(t, "ann@corp.example", catest.WithValidity(now.Add(-48*time.Hour), now.Add(300*24*time.Hour)))
	sub := w.ca.Issue(t, "ann@sub.example", catest.WithValidity(now.Add(-time.Hour), now.Add(300*24*time.Hour)))
	w.mustSync()
	w.assertCerts(ann, corp.DER, sub.DER)

	base := lookupAfterPass(t, w.writeConfig())
	for addr, want := range map[string][]byte{"ann@corp.example": corp.DER, "Ann@Sub.example": sub.DER} {
		if got := (sender{t: t}).fetch(base+"/certs/"+addr, 200); string(got) != string(want) {
			t.Errorf("lookup of %s does not answer with the certificate for that address", addr)
		}
	}

	// Renewing one address's key replaces that one only.
	corp2 := w.ca.Issue(t, "ann@corp.example", catest.WithValidity(now.Add(-time.Minute), now.Add(365*24*time.Hour)))
	w.mustSync()
	w.assertCerts(ann, corp2.DER, sub.DER)
}

// A legacy certificate with the address only in the subject's emailAddress (what `openssl ca`
// makes with its default policy) is matched; one with a SAN is matched by its SAN only.
func TestLegacyCertificateWithTheAddressInTheSubject(t *testing.T) {
	w := newWorld(t)
	alice := w.user("alice", "alice@corp.example")
	legacy := w.ca.Issue(t, "Alice@corp.example", catest.WithExt("legacy"), catest.WithKey("rsa"))
	_, out := w.mustSync()
	w.assertCerts(alice, legacy.DER)
	if !strings.Contains(out, "reason=new") {
		t.Errorf("plan:\n%s", out)
	}
}

// A revoked key leaves userSMIMECertificate too, under the default policy (report), on a
// directory that replaces the attribute whole (slapd) and on one that deletes one value (AD).
func revokedKeyLeavesTheBlob(t *testing.T, w dirWorld, setBlobs func(dn string, blobs ...[]byte), blobs func(dn string) [][]byte) {
	ca := w.authority()
	alice := w.addUser("alice", "alice@corp.example")
	a := ca.Issue(t, "alice@corp.example")
	w.mustSync()
	setBlobs(alice, outlookBlob(t, a))

	ca.Revoke(t, a.Serial, "keyCompromise")
	_, out := w.mustSync()
	w.assertCerts(alice)
	if got := blobs(alice); len(got) != 0 {
		t.Errorf("%s still holds %d userSMIMECertificate blobs of a revoked key; plan:\n%s", alice, len(got), out)
	}
}

func TestRevokedKeyLeavesTheBlob(t *testing.T) {
	w := newWorld(t)
	revokedKeyLeavesTheBlob(t, w, func(dn string, blobs ...[]byte) { setSlapdSMIME(t, w, dn, blobs...) },
		func(dn string) [][]byte { return slapdSMIME(t, w.slapd, dn) })
}

func TestADRevokedKeyLeavesTheBlob(t *testing.T) {
	w := newADWorld(t)
	revokedKeyLeavesTheBlob(t, w, func(dn string, blobs ...[]byte) { w.dc.SetSMIME(t, dn, blobs...) },
		func(dn string) [][]byte { return w.dc.SMIME(t, dn) })
}

// AD stores mail in Unicode; the certificate carries the domain's A-label. They are one
// address (IDNA ToASCII on both sides); a look-alike domain is not.
func TestADMatchesAnInternationalisedDomain(t *testing.T) {
	w := newADWorld(t)
	ann := w.user("ann", "ann@bücher.example")
	eve := w.user("eve", "eve@bücher.example")
	a := w.ca.Issue(t, "ann@xn--bcher-kva.example")
	// "bucher" with a Latin u is another domain: the certificate matches nobody.
	e := w.ca.Issue(t, "eve@bucher.example")
	_, out := w.mustSync()
	w.assertCerts(ann, a.DER)
	w.assertCerts(eve)
	if !strings.Contains(out, "serial="+e.Serial) || !strings.Contains(out, "no_user") {
		t.Errorf("the look-alike certificate is not reported:\n%s", out)
	}
}

func setSlapdSMIME(t *testing.T, w *world, dn string, blobs ...[]byte) {
	t.Helper()
	vals := make([]string, len(blobs))
	for i, b := range blobs {
		vals[i] = string(b)
	}
	req := ldap.NewModifyRequest(dn, nil)
	req.Replace(sync.AttrSMIME, vals)
	if err := w.slapd.Conn(t).Modify(req); err != nil {
		t.Fatalf("set %s of %s: %v", sync.AttrSMIME, dn, err)
	}
}

// lookupAfterPass runs one pass of the configuration at path and serves what it published
// from a lookup server on loopback until the test ends; it returns the server's base URL.
func lookupAfterPass(t *testing.T, path string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := logrus.New()
	log.SetOutput(io.Discard)
	cfg, ok := loadConfig(path, os.Stderr)
	if !ok {
		t.Fatal("configuration")
	}
	p, err := newPipeline(ctx, cfg, log, sync.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	res, err := p.syncer.Pass(ctx, false)
	if err != nil || res.Plan == nil {
		t.Fatalf("pass: %v", err)
	}
	srv := lookup.NewServer(config.Lookup{RatePerSecond: 100, Burst: 100}, prometheus.NewRegistry(), log)
	publishLookup(srv, res, t.TempDir(), log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("lookup server: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// `certgal report` lists every user with its addresses, current key and status, and writes
// nothing.
func TestReport(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	alice := w.user("alice", "alice@corp.example")
	bob := w.user("bob", "bob@corp.example")
	carol := w.user("carol", "carol@corp.example")
	dave := w.user("dave", "dave@corp.example", "shared@corp.example")
	w.user("erin", "erin@corp.example", "shared@corp.example")
	frank := w.user("frank", "frank@corp.example")
	a := w.ca.Issue(t, "alice@corp.example")
	b := w.ca.Issue(t, "bob@corp.example", catest.WithValidity(now.Add(-300*24*time.Hour), now.Add(10*24*time.Hour)))
	f1 := w.ca.Issue(t, "frank@corp.example", catest.WithValidity(now.Add(-48*time.Hour), now.Add(300*24*time.Hour)))
	d := w.ca.Issue(t, "dave@corp.example")
	w.mustSync()
	setSlapdSMIME(t, w, frank, outlookBlob(t, f1))
	f2 := w.ca.Issue(t, "frank@corp.example", catest.WithValidity(now.Add(-time.Hour), now.Add(365*24*time.Hour)))
	w.mustSync()

	before := w.slapd.ModifyCount(t)
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"report", "-config", w.writeConfig(), "-o", "json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("certgal report exited %d\n%s", code, stderr.String())
	}
	if n := w.slapd.ModifyCount(t) - before; n != 0 {
		t.Errorf("report wrote %d modify operations", n)
	}
	var doc struct{ Users []sync.UserReport }
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, stdout.String())
	}
	got := map[string]sync.UserReport{}
	for _, u := range doc.Users {
		got[u.DN] = u
	}
	for dn, want := range map[string]struct{ status, serial string }{
		alice: {sync.StatusOK, a.Serial}, bob: {sync.StatusExpiring, b.Serial}, carol: {sync.StatusNone, ""},
		dave: {sync.StatusAmbiguous, d.Serial}, frank: {sync.StatusStale, f2.Serial},
	} {
		if u := got[dn]; u.Status != want.status || u.Serial != want.serial {
			t.Errorf("%s: %+v, want status %s serial %q", dn, u, want.status, want.serial)
		}
	}
	if len(doc.Users) != 6 || !got[bob].NotAfter.Equal(mustParse(t, b.DER).NotAfter) {
		t.Errorf("report: %+v", doc.Users)
	}

	for format, want := range map[string]string{"csv": "dn,addresses,serial,not_after,status\n", "text": "report: 6 users: 1 ok, 1 expiring, 1 without a certificate, 1 stale blobs, 2 ambiguous"} {
		stdout.Reset()
		if code := run(context.Background(), []string{"report", "-config", w.writeConfig(), "-o", format}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), want) {
			t.Errorf("report -o %s: exit %d\n%s", format, code, stdout.String())
		}
	}
	if code := run(context.Background(), []string{"report", "-config", w.writeConfig(), "-o", "xml"}, &stdout, &stderr); code != 2 {
		t.Errorf("report -o xml: exit %d, want 2", code)
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A report whose pass would be blocked says so and exits 1: its statuses are what the plan
// wants, not what the next pass leaves.
func TestReportOfABlockedPass(t *testing.T) {
	w := newWorld(t)
	alice := w.user("alice", "alice@corp.example")
	now := time.Now()
	w.setCerts(alice, w.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-400*24*time.Hour), now.Add(-3*24*time.Hour))).DER)
	w.extra = "  max_deletes: 0\n"
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"report", "-config", w.writeConfig()}, &stdout, &stderr)
	if code != 1 || !strings.Contains(stderr.String(), "blocked") || !strings.Contains(stdout.String(), "no_certificate") {
		t.Errorf("exit %d, want 1 with the report and a blocked message\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
}
