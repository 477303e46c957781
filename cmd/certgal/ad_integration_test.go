package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"github.com/smallstep/pkcs7"

	"github.com/certgal/certgal/certsource/catest"
	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/ldapgal"
	"github.com/certgal/certgal/ldapgal/adtest"
	"github.com/certgal/certgal/ldapgal/ldaptest"
	"github.com/certgal/certgal/sync"
)

// adWorld is the Samba AD DC (one OU for the test) and an OpenSSL CA, with a
// certgal configuration for them.
//
// Writes are counted with the DC's highestCommittedUSN: every committed change
// to any object takes the next update sequence number, one per modify (checked
// against Samba 4.17: a modify of two attributes of one entry is one USN; a
// failed modify, a bind, or a bind with a wrong password is none). The DC
// belongs to this test process alone (adtest's lock) and tests run one after
// another, so during a pass only certgal writes. Samba has no cn=Monitor, and
// certgal's own metric would be certgal judging itself; the USN is the
// server's own account of what was written.
type adWorld struct {
	t      *testing.T
	dc     *adtest.DC
	ou     string
	ca     *catest.CA
	extra  string // YAML appended to the policy section
	dirYML string // replaces the directory section's connection keys, if set
	crls   []string
	pwFile string
}

// samSeq keeps sAMAccountNames unique in the domain, which AD requires across OUs.
var samSeq atomic.Int64

func newADWorld(t *testing.T) *adWorld {
	t.Helper()
	dc := adtest.Need(t)
	w := &adWorld{t: t, dc: dc, ou: dc.NewOU(t), ca: catest.New(t, "Corp S/MIME CA")}
	w.pwFile = filepath.Join(t.TempDir(), "bind-password")
	if err := os.WriteFile(w.pwFile, []byte(dc.BindPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// directory is the directory section for the DC, dialect auto.
func (w *adWorld) directory() string {
	if w.dirYML != "" {
		return w.dirYML
	}
	return fmt.Sprintf("  url: %s\n  dialect: auto\n  ca_file: %s\n  bind_dn: %s\n  bind_password_file: %s\n  base_dn: %s\n",
		w.dc.URL, w.dc.CAFile, yamlQuote(w.dc.BindDN), w.pwFile, yamlQuote(w.ou))
}

func yamlQuote(s string) string { return strconv.Quote(s) }

func (w *adWorld) writeConfig() string {
	w.t.Helper()
	return writeCertgalConfig(w.t, w.ca, w.crls, w.directory(), w.extra)
}

// writeCertgalConfig writes a configuration whose source and policy are the
// same for every directory: only the directory section differs.
func writeCertgalConfig(t *testing.T, ca *catest.CA, crls []string, directory, policy string) string {
	t.Helper()
	if !strings.Contains(policy, "keep:") {
		policy = "  keep: newest\n" + policy
	}
	c := ""
	if len(crls) > 0 {
		c = fmt.Sprintf("    crl_files: [%s]\n", strings.Join(crls, ", "))
	}
	cfg := fmt.Sprintf("source:\n  kind: openssl\n  openssl:\n    dir: %s\n%strust:\n  ca_files: [%s]\n"+
		"directory:\n%s  timeout: 20s\npolicy:\n%slookup:\n  listen: \"\"\nmetrics:\n  listen: \"\"\n",
		ca.Dir, c, ca.CertFile, directory, policy)
	path := filepath.Join(t.TempDir(), "certgal.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func (w *adWorld) sync(args ...string) (int, string, string) {
	w.t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"sync", "-config", w.writeConfig()}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// mustSync runs a pass that must succeed and returns the writes it caused.
func (w *adWorld) mustSync(args ...string) (int, string) {
	w.t.Helper()
	before := adUSN(w.t, w.dc)
	code, out, errOut := w.sync(args...)
	if code != 0 {
		w.t.Fatalf("certgal sync exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	return int(adUSN(w.t, w.dc) - before), out
}

// adUSN is the DC's highestCommittedUSN.
func adUSN(t *testing.T, dc *adtest.DC) int64 {
	t.Helper()
	res, err := dc.Conn(t).Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"highestCommittedUSN"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("read highestCommittedUSN: %v", err)
	}
	n, err := strconv.ParseInt(res.Entries[0].GetAttributeValue("highestCommittedUSN"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// usnChanged is an entry's uSNChanged: it moves whenever the entry is written.
func usnChanged(t *testing.T, dc *adtest.DC, dn string) string {
	t.Helper()
	res, err := dc.Conn(t).Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{"uSNChanged"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("read uSNChanged of %s: %v", dn, err)
	}
	return res.Entries[0].GetAttributeValue("uSNChanged")
}

// user adds a user with a domain-unique sAMAccountName made from name.
func (w *adWorld) user(name, mail string, proxyAddresses ...string) string {
	w.t.Helper()
	return w.dc.AddUser(w.t, w.ou, fmt.Sprintf("%s-%d", name, samSeq.Add(1)), mail, proxyAddresses...)
}

func (w *adWorld) assertCerts(dn string, want ...[]byte) {
	w.t.Helper()
	assertSameValues(w.t, dn, w.dc.Certs(w.t, dn), want)
}

func assertSameValues(t *testing.T, dn string, got, want [][]byte) {
	t.Helper()
	same := len(got) == len(want)
	for _, v := range want {
		same = same && slices.ContainsFunc(got, func(g []byte) bool { return bytes.Equal(g, v) })
	}
	if !same {
		t.Errorf("%s holds %s, want %s", dn, describe(got), describe(want))
	}
}

func TestADFirstPublishThenNothingToDo(t *testing.T) {
	w := newADWorld(t)
	alice := w.user("alice", "alice@corp.example", "SMTP:alice@corp.example")
	bob := w.user("bob", "Bob@Corp.Example")
	carol := w.user("carol", "carol@corp.example")
	a := w.ca.Issue(t, "alice@corp.example")
	b := w.ca.Issue(t, "bob@corp.example", catest.WithKey("rsa"))

	writes, out := w.mustSync()
	if writes != 2 {
		t.Errorf("first pass: %d writes, want 2\n%s", writes, out)
	}
	w.assertCerts(alice, a.DER)
	w.assertCerts(bob, b.DER)
	w.assertCerts(carol)

	before := map[string]string{}
	for _, dn := range []string{alice, bob, carol} {
		before[dn] = usnChanged(t, w.dc, dn)
	}
	writes, out = w.mustSync()
	if writes != 0 {
		t.Errorf("second pass against an unchanged CA: %d writes, want 0", writes)
	}
	if !strings.Contains(out, "plan: 0 to add, 0 to remove, 0 skipped, 0 entries to modify") {
		t.Errorf("second pass plan:\n%s", out)
	}
	for dn, usn := range before {
		if got := usnChanged(t, w.dc, dn); got != usn {
			t.Errorf("%s was written by a pass with nothing to do (uSNChanged %s → %s)", dn, usn, got)
		}
	}
}

func TestADRenewalReplacesTheOldCertificate(t *testing.T) {
	renewalReplacesTheOldCertificate(t, newADWorld(t))
}

func TestADRevocationInTheIndex(t *testing.T) { revocationInTheIndex(t, newADWorld(t)) }

func TestADRevocationByCRLOnly(t *testing.T) { revocationByCRLOnly(t, newADWorld(t)) }

func TestADExpiredValuesLeaveAfterGrace(t *testing.T) { expiredValuesLeaveAfterGrace(t, newADWorld(t)) }

func TestADLeavesForeignAndSelfPublishedValues(t *testing.T) {
	leavesForeignAndSelfPublishedValues(t, newADWorld(t))
}

// Two users claim one address, one through mail and one through a
// proxyAddresses alias: neither gets the certificate.
func TestADSkipsAnAmbiguousAddress(t *testing.T) {
	w := newADWorld(t)
	one := w.user("one", "shared@corp.example")
	two := w.user("two", "two@corp.example", "SMTP:two@corp.example", "smtp:SHARED@corp.example")
	w.ca.Issue(t, "shared@corp.example")
	writes, out := w.mustSync()
	if writes != 0 {
		t.Errorf("%d writes, want 0", writes)
	}
	w.assertCerts(one)
	w.assertCerts(two)
	if !strings.Contains(out, "ambiguous_address") {
		t.Errorf("plan does not report the ambiguity:\n%s", out)
	}
}

// A user without mail is found through a proxyAddresses alias; other address
// types (X500:, SIP:) are not addresses.
func TestADMatchesAProxyAddressesAlias(t *testing.T) {
	w := newADWorld(t)
	dn := w.user("dave", "", "SMTP:dave@corp.example", "smtp:D.Alias@Corp.example", "X500:/o=Corp/cn=dave", "SIP:sip@corp.example")
	alias := w.ca.Issue(t, "d.alias@corp.example")
	w.ca.Issue(t, "sip@corp.example")
	writes, out := w.mustSync()
	if writes != 1 {
		t.Errorf("%d writes, want 1\n%s", writes, out)
	}
	w.assertCerts(dn, alias.DER)
	if !strings.Contains(out, "sip@corp.example") || !strings.Contains(out, "no_user") {
		t.Errorf("the SIP address matched, or the skip is not reported:\n%s", out)
	}
}

// issueOversized issues, with the CA's own key, a certificate for email
// larger than AD stores (a 33,000-byte private extension), and records it in
// index.txt and newcerts/ as `openssl ca` would.
func issueOversized(t *testing.T, ca *catest.CA, email string) []byte {
	t.Helper()
	keyPEM, err := os.ReadFile(filepath.Join(ca.Dir, "private", "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(keyPEM)
	caKey, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	filler, _ := asn1.Marshal(bytes.Repeat([]byte{'x'}, 33000))
	serial := big.NewInt(time.Now().UnixNano())
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "oversized"}, EmailAddresses: []string{email},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(100 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyAgreement, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55555, 1}, Value: filler}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	hexSerial := fmt.Sprintf("%X", serial)
	if len(hexSerial)%2 == 1 {
		hexSerial = "0" + hexSerial
	}
	if err := os.WriteFile(filepath.Join(ca.Dir, "newcerts", hexSerial+".pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(ca.Dir, "index.txt"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "V\t%s\t\t%s\tunknown\t/CN=oversized\n", tmpl.NotAfter.UTC().Format("060102150405Z"), hexSerial); err != nil {
		t.Fatal(err)
	}
	return der
}

// A certificate larger than AD's rangeUpper is skipped with a reason before
// writing; the entry's other changes (a revocation) still happen.
func TestADOversizedValueIsSkipped(t *testing.T) {
	w := newADWorld(t)
	alice := w.user("alice", "alice@corp.example")
	now := time.Now()
	cur := w.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-48*time.Hour), now.Add(300*24*time.Hour)))
	gone := w.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-72*time.Hour), now.Add(300*24*time.Hour)))
	w.dc.SetCerts(t, alice, cur.DER, gone.DER)
	w.ca.Revoke(t, gone.Serial, "keyCompromise")
	big := issueOversized(t, w.ca, "alice@corp.example")
	if len(big) <= 32768 {
		t.Fatalf("oversized certificate is only %d bytes", len(big))
	}

	writes, out := w.mustSync()
	if writes != 1 {
		t.Errorf("%d writes, want 1 (the revocation)", writes)
	}
	w.assertCerts(alice, cur.DER)
	if !strings.Contains(out, "value_too_large") || !strings.Contains(out, "revoked") {
		t.Errorf("plan:\n%s", out)
	}
}

// A value the directory refuses although certgal did not know the limit
// (here: a pipeline without the AD dialect's MaxValueBytes) costs only itself:
// the same entry's revocation is written in a second modify, the value it was
// to supersede stays, and the pass reports the entry as failed.
func TestADRefusedValueKeepsTheEntrysOtherChanges(t *testing.T) {
	w := newADWorld(t)
	alice := w.user("alice", "alice@corp.example")
	now := time.Now()
	cur := w.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-48*time.Hour), now.Add(300*24*time.Hour)))
	gone := w.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-72*time.Hour), now.Add(300*24*time.Hour)))
	w.dc.SetCerts(t, alice, cur.DER, gone.DER)
	w.ca.Revoke(t, gone.Serial, "keyCompromise")
	issueOversized(t, w.ca, "alice@corp.example")

	cfg, err := config.LoadFile(w.writeConfig())
	if err != nil {
		t.Fatal(err)
	}
	log, _ := logtest.NewNullLogger()
	parts, err := newPipelineParts(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := ldapgal.Open(context.Background(), cfg.Dir, log)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	pol := policyFrom(cfg.Policy) // MaxValueBytes left at 0: no limit known
	s := sync.NewSyncer(parts.src, dir, parts.trust, pol, log, sync.NewMetrics(prometheus.NewRegistry()))

	before := adUSN(t, w.dc)
	res, err := s.Pass(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(res.Err, sync.ErrValueRejected) || !ldap.IsErrorWithCode(res.Err, ldap.LDAPResultInvalidAttributeSyntax) {
		t.Errorf("pass error %v, want ErrValueRejected wrapping result 21", res.Err)
	}
	if n := adUSN(t, w.dc) - before; n != 1 {
		t.Errorf("%d writes, want 1: the refused modify wrote nothing, the retry without the add wrote the revocation", n)
	}
	w.assertCerts(alice, cur.DER)
}

// 16 valid certificates and keep: all: the newest 15 (policy.max_values), the
// 16th reported; a rerun writes nothing.
func TestAD16ValidCertificates(t *testing.T) {
	w := newADWorld(t)
	alice := w.user("alice", "alice@corp.example")
	w.extra = "  keep: all\n"
	now := time.Now()
	var issued []catest.Issued
	for i := range 16 {
		start := now.Add(-time.Duration(16-i) * time.Hour)
		issued = append(issued, w.ca.Issue(t, "alice@corp.example", catest.WithValidity(start, start.Add(365*24*time.Hour))))
	}
	writes, out := w.mustSync()
	if writes != 1 {
		t.Errorf("%d writes, want 1", writes)
	}
	var want [][]byte
	for _, is := range issued[1:] {
		want = append(want, is.DER)
	}
	w.assertCerts(alice, want...)
	if !strings.Contains(out, "serial="+issued[0].Serial) || !strings.Contains(out, "max_values") {
		t.Errorf("the oldest certificate is not reported as max_values:\n%s", out)
	}
	if writes, _ := w.mustSync(); writes != 0 {
		t.Errorf("rerun: %d writes, want 0", writes)
	}
}

func TestADWrongPasswordWritesNothing(t *testing.T) {
	w := newADWorld(t)
	w.user("alice", "alice@corp.example")
	w.ca.Issue(t, "alice@corp.example")
	if err := os.WriteFile(w.pwFile, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := adUSN(t, w.dc)
	code, _, errOut := w.sync()
	if code != 1 || !strings.Contains(errOut, "Invalid Credentials") || !strings.Contains(errOut, "bind to ") {
		t.Errorf("wrong password: exit %d, want 1 with a bind error\n%s", code, errOut)
	}
	if n := adUSN(t, w.dc) - before; n != 0 {
		t.Errorf("%d writes", n)
	}
}

func TestADServerCertificateFromAnotherCAIsRefused(t *testing.T) {
	w := newADWorld(t)
	w.user("alice", "alice@corp.example")
	w.ca.Issue(t, "alice@corp.example")
	w.dirYML = strings.Replace(w.directory(), "ca_file: "+w.dc.CAFile, "ca_file: "+w.dc.OtherCAFile, 1)
	before := adUSN(t, w.dc)
	code, _, errOut := w.sync()
	if code != 1 || !strings.Contains(errOut, "certificate signed by unknown authority") {
		t.Errorf("exit %d, want 1 refusing the server certificate\n%s", code, errOut)
	}
	if n := adUSN(t, w.dc) - before; n != 0 {
		t.Errorf("%d writes", n)
	}
}

// blobOf is a certs-only PKCS#7 of ders.
func blobOf(t *testing.T, ders ...[]byte) []byte {
	t.Helper()
	der, err := pkcs7.DegenerateCertificate(bytes.Join(ders, nil))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// outlookBlob is a blob like the one Outlook's "Publish to GAL" writes: a
// SignedData signed with the certificate's own key.
func outlookBlob(t *testing.T, is catest.Issued) []byte {
	t.Helper()
	keyPEM, err := os.ReadFile(is.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(keyPEM)
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		if key, err = x509.ParseECPrivateKey(blk.Bytes); err != nil {
			t.Fatal(err)
		}
	}
	cert, err := x509.ParseCertificate(is.DER)
	if err != nil {
		t.Fatal(err)
	}
	sd, err := pkcs7.NewSignedData([]byte("SMIMECapabilities"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sd.AddSigner(cert, key, pkcs7.SignerInfoConfig{}); err != nil {
		t.Fatal(err)
	}
	der, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// smimeFixture is alice, renewed: her old certificate is in userCertificate and
// in an Outlook blob, next to a partner CA's blob and a broken one.
func smimeFixture(w *adWorld) (alice string, old, cur catest.Issued, stale, foreign, broken []byte) {
	t := w.t
	alice = w.user("alice", "alice@corp.example")
	now := time.Now()
	old = w.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-48*time.Hour), now.Add(300*24*time.Hour)))
	cur = w.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-time.Hour), now.Add(365*24*time.Hour)))
	stale = outlookBlob(t, old)
	foreign = blobOf(t, catest.New(t, "Partner CA").Issue(t, "alice@corp.example").DER)
	broken = []byte("\x30\x05not-a-pkcs7")
	w.dc.SetCerts(t, alice, old.DER)
	w.dc.SetSMIME(t, alice, stale, foreign, broken)
	return
}

func TestADSMIMEReport(t *testing.T) {
	w := newADWorld(t)
	alice, _, cur, stale, foreign, broken := smimeFixture(w)
	writes, out := w.mustSync()
	if writes != 1 {
		t.Errorf("%d writes, want 1 (the renewal)", writes)
	}
	w.assertCerts(alice, cur.DER)
	assertSameValues(t, alice, w.dc.SMIME(t, alice), [][]byte{stale, foreign, broken})
	for _, want := range []string{"stale_smime", "broken_smime", "attribute=userSMIMECertificate"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %s:\n%s", want, out)
		}
	}
}

func TestADSMIMERemoveStale(t *testing.T) {
	w := newADWorld(t)
	w.extra = "  smime_attribute: remove-stale\n"
	alice, _, cur, _, foreign, broken := smimeFixture(w)
	writes, out := w.mustSync()
	if writes != 1 {
		t.Errorf("%d writes, want 1: certificates and blob in one modify", writes)
	}
	w.assertCerts(alice, cur.DER)
	assertSameValues(t, alice, w.dc.SMIME(t, alice), [][]byte{foreign, broken})
	if !strings.Contains(out, "remove") || !strings.Contains(out, "stale_smime") {
		t.Errorf("plan:\n%s", out)
	}
	if writes, _ := w.mustSync(); writes != 0 {
		t.Errorf("rerun: %d writes, want 0", writes)
	}
}

func TestADSMIMEManage(t *testing.T) {
	w := newADWorld(t)
	w.extra = "  smime_attribute: manage\n"
	alice, _, cur, _, foreign, broken := smimeFixture(w)
	bob := w.user("bob", "bob@corp.example")
	b := w.ca.Issue(t, "bob@corp.example", catest.WithKey("rsa"))

	writes, out := w.mustSync()
	if writes != 2 {
		t.Errorf("%d writes, want 2 (one per entry)\n%s", writes, out)
	}
	w.assertCerts(alice, cur.DER)
	blobs := w.dc.SMIME(t, alice)
	if len(blobs) != 3 || !slices.ContainsFunc(blobs, func(v []byte) bool { return bytes.Equal(v, foreign) }) ||
		!slices.ContainsFunc(blobs, func(v []byte) bool { return bytes.Equal(v, broken) }) {
		t.Fatalf("alice's blobs: %d, want the managed one beside the foreign and the broken", len(blobs))
	}
	for _, v := range blobs {
		if !bytes.Equal(v, foreign) && !bytes.Equal(v, broken) {
			assertOpenSSLReads(t, v, cur.DER)
		}
	}
	bobBlobs := w.dc.SMIME(t, bob)
	if len(bobBlobs) != 1 {
		t.Fatalf("bob: %d blobs, want 1", len(bobBlobs))
	}
	assertOpenSSLReads(t, bobBlobs[0], b.DER)

	if writes, _ := w.mustSync(); writes != 0 {
		t.Errorf("rerun: %d writes, want 0", writes)
	}

	// Bob renews: his managed blob is replaced in the same modify.
	renewed := w.ca.Issue(t, "bob@corp.example", catest.WithKey("rsa"), catest.WithValidity(time.Now().Add(time.Second), time.Now().Add(400*24*time.Hour)))
	time.Sleep(1100 * time.Millisecond) // until the new one is valid
	writes, out = w.mustSync()
	if writes != 1 {
		t.Errorf("renewal: %d writes, want 1\n%s", writes, out)
	}
	w.assertCerts(bob, renewed.DER)
	bobBlobs = w.dc.SMIME(t, bob)
	if len(bobBlobs) != 1 {
		t.Fatalf("bob after renewal: %d blobs, want 1", len(bobBlobs))
	}
	assertOpenSSLReads(t, bobBlobs[0], renewed.DER)
}

// assertOpenSSLReads checks `openssl pkcs7 -inform DER -print_certs` reads
// blob and finds exactly the certificates want.
func assertOpenSSLReads(t *testing.T, blob []byte, want ...[]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "blob.p7c")
	if err := os.WriteFile(path, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "pkcs7", "-inform", "DER", "-in", path, "-print_certs").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs7: %v\n%s", err, out)
	}
	var got [][]byte
	for rest := out; ; {
		var blk *pem.Block
		if blk, rest = pem.Decode(rest); blk == nil {
			break
		}
		got = append(got, blk.Bytes)
	}
	assertSameValues(t, "managed blob", got, want)
}

// The same binary, with only the directory section changed, converges a real
// slapd and a real Samba AD DC from the same CA, blobs included.
func TestSameBinaryConvergesSlapdAndSamba(t *testing.T) {
	w := newADWorld(t)
	slapd := ldaptest.StartSlapd(t)
	bin := filepath.Join(t.TempDir(), "certgal")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	adAlice := w.user("alice", "alice@corp.example")
	adBob := w.user("bob", "", "SMTP:bob@corp.example")
	olAlice := slapd.AddUser(t, "people", "alice", "alice@corp.example")
	olBob := slapd.AddUser(t, "people", "bob", "bob@corp.example")
	a := w.ca.Issue(t, "alice@corp.example")
	b := w.ca.Issue(t, "bob@corp.example", catest.WithKey("rsa"))

	pw := filepath.Join(t.TempDir(), "slapd-password")
	if err := os.WriteFile(pw, []byte(slapd.RootPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := "  smime_attribute: manage\n"
	adConfig := writeCertgalConfig(t, w.ca, nil, fmt.Sprintf(
		"  url: %s\n  dialect: ad\n  ca_file: %s\n  bind_dn: %s\n  bind_password_file: %s\n  base_dn: %s\n",
		w.dc.URL, w.dc.CAFile, yamlQuote(w.dc.BindDN), w.pwFile, yamlQuote(w.ou)), policy)
	olConfig := writeCertgalConfig(t, w.ca, nil, fmt.Sprintf(
		"  url: %s\n  dialect: openldap\n  ca_file: %s\n  bind_dn: %s\n  bind_password_file: %s\n  base_dn: %s\n",
		slapd.LDAPSURL, slapd.CAFile, yamlQuote(slapd.RootDN), pw, yamlQuote(slapd.Suffix)), policy)

	runSync := func(config string) string {
		t.Helper()
		out, err := exec.Command(bin, "sync", "-config", config).CombinedOutput()
		if err != nil {
			t.Fatalf("certgal sync -config %s: %v\n%s", config, err, out)
		}
		return string(out)
	}
	usn, mods := adUSN(t, w.dc), slapd.ModifyCount(t)
	runSync(adConfig)
	runSync(olConfig)
	if n := adUSN(t, w.dc) - usn; n != 2 {
		t.Errorf("Samba: %d writes, want 2", n)
	}
	if n := slapd.ModifyCount(t) - mods; n != 2 {
		t.Errorf("slapd: %d modify operations, want 2", n)
	}
	w.assertCerts(adAlice, a.DER)
	w.assertCerts(adBob, b.DER)
	assertSameValues(t, olAlice, slapd.Certs(t, olAlice), [][]byte{a.DER})
	assertSameValues(t, olBob, slapd.Certs(t, olBob), [][]byte{b.DER})
	for _, blobs := range [][][]byte{w.dc.SMIME(t, adAlice), slapdSMIME(t, slapd, olAlice)} {
		if len(blobs) != 1 {
			t.Fatalf("%d blobs, want the managed one", len(blobs))
		}
		assertOpenSSLReads(t, blobs[0], a.DER)
	}

	usn, mods = adUSN(t, w.dc), slapd.ModifyCount(t)
	for _, out := range []string{runSync(adConfig), runSync(olConfig)} {
		if !strings.Contains(out, "plan: 0 to add, 0 to remove") {
			t.Errorf("rerun plan:\n%s", out)
		}
	}
	if n := adUSN(t, w.dc) - usn; n != 0 {
		t.Errorf("Samba rerun: %d writes", n)
	}
	if n := slapd.ModifyCount(t) - mods; n != 0 {
		t.Errorf("slapd rerun: %d modify operations", n)
	}
}

func slapdSMIME(t *testing.T, s *ldaptest.Slapd, dn string) [][]byte {
	t.Helper()
	res, err := s.Conn(t).Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		0, 0, false, "(objectClass=*)", []string{sync.AttrSMIME}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("read %s: %v", dn, err)
	}
	return res.Entries[0].GetRawAttributeValues(sync.AttrSMIME)
}
