package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"github.com/smallstep/pkcs7"

	"github.com/certgal/certgal/certsource/catest"
	"github.com/certgal/certgal/certsource/servertest"
	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/ldapgal/ldaptest"
	"github.com/certgal/certgal/sync"
)

// srcWorld is one slapd and one CA store of any kind, with a certgal configuration for them.
type srcWorld struct {
	t      *testing.T
	slapd  *ldaptest.Slapd
	source string // the source: section, indented under it
	trust  []string
}

func newSrcWorld(t *testing.T) *srcWorld {
	t.Helper()
	return &srcWorld{t: t, slapd: ldaptest.StartSlapd(t)}
}

// secretFile writes a *_file secret and returns its path.
func secretFile(t *testing.T, value string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (w *srcWorld) writeConfig() string {
	w.t.Helper()
	cfg := fmt.Sprintf(`source:
%strust:
  ca_files: [%s]
directory:
  url: %s
  ca_file: %s
  bind_dn: %s
  bind_password_file: %s
  base_dn: %s
  timeout: 10s
lookup:
  listen: ""
metrics:
  listen: ""
`, w.source, strings.Join(w.trust, ", "), w.slapd.LDAPSURL, w.slapd.CAFile, w.slapd.RootDN,
		secretFile(w.t, w.slapd.RootPW), w.slapd.Suffix)
	path := filepath.Join(w.t.TempDir(), "certgal.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return path
}

// sync runs `certgal sync` in-process and returns its exit status and output.
func (w *srcWorld) sync(args ...string) (int, string, string) {
	w.t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), append([]string{"sync", "-config", w.writeConfig()}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func (w *srcWorld) mustSync() string {
	w.t.Helper()
	code, out, errOut := w.sync()
	if code != 0 {
		w.t.Fatalf("certgal sync exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	return out
}

// failingSync runs a pass that must fail on the source: exit 1, errWant in stderr, no write, and
// certgal_sync_passes_total{result="source_error"} counted by the same pipeline `sync` builds.
func (w *srcWorld) failingSync(errWant string) {
	w.t.Helper()
	before := w.slapd.ModifyCount(w.t)
	code, out, errOut := w.sync()
	if code != 1 || !strings.Contains(errOut, errWant) {
		w.t.Errorf("exit %d, want 1 with %q\nstdout:\n%s\nstderr:\n%s", code, errWant, out, errOut)
	}
	if n := w.slapd.ModifyCount(w.t) - before; n != 0 {
		w.t.Errorf("a pass whose source failed wrote %d modify operations", n)
	}

	cfg, err := config.LoadFile(w.writeConfig())
	if err != nil {
		w.t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	log := logrus.New()
	log.SetOutput(io.Discard)
	p, err := newPipeline(context.Background(), cfg, log, sync.NewMetrics(reg))
	if err != nil {
		w.t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.syncer.Pass(context.Background(), false); err == nil {
		w.t.Error("pass: no error")
	}
	if got := counterValue(w.t, reg, "certgal_sync_passes_total", "result", sync.ResultSourceError); got != 1 {
		w.t.Errorf(`certgal_sync_passes_total{result="source_error"} = %v, want 1`, got)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func (w *srcWorld) assertCerts(dn string, want ...[]byte) {
	w.t.Helper()
	got := w.slapd.Certs(w.t, dn)
	same := len(got) == len(want)
	for _, v := range want {
		same = same && bytes.Contains(bytes.Join(got, []byte{0}), v)
	}
	if !same {
		w.t.Errorf("%s holds %s, want %s", dn, describe(got), describe(want))
	}
}

// --- folder ------------------------------------------------------------------------------------

func writeDrop(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	// Written aside and renamed in, as a careful CA or admin does.
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestSourcesFolderEndToEnd(t *testing.T) {
	w := newSrcWorld(t)
	ca := catest.New(t, "Corp S/MIME CA")
	drop := filepath.Join(t.TempDir(), "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	w.source = fmt.Sprintf("  kind: folder\n  folder:\n    dir: %s\n    recursive: true\n", drop)
	w.trust = []string{ca.CertFile}
	alice := w.slapd.AddUser(t, "people", "alice", "alice@corp.example")
	bob := w.slapd.AddUser(t, "people", "bob", "bob@corp.example")
	carol := w.slapd.AddUser(t, "people", "carol", "carol@corp.example")
	dave := w.slapd.AddUser(t, "people", "dave", "dave@corp.example")

	// Every format a CA or an admin drops, and key material that must be refused.
	a := ca.Issue(t, "alice@corp.example")
	b := ca.Issue(t, "bob@corp.example", catest.WithKey("rsa"))
	c := ca.Issue(t, "carol@corp.example")
	pemA, err := os.ReadFile(a.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	writeDrop(t, filepath.Join(drop, "alice.pem"), pemA)
	writeDrop(t, filepath.Join(drop, "2026", "bob.cer"), b.DER)
	p7, err := pkcs7.DegenerateCertificate(append(append([]byte{}, c.DER...), ca.Cert.Raw...))
	if err != nil {
		t.Fatal(err)
	}
	writeDrop(t, filepath.Join(drop, "2026", "11", "carol.p7b"), p7)
	key, err := os.ReadFile(a.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	writeDrop(t, filepath.Join(drop, "alice-with-key.pem"), append(append([]byte{}, pemA...), key...))
	p12, err := os.ReadFile(filepath.Join("..", "..", "testdata", "folder", "alice.p12"))
	if err != nil {
		t.Fatal(err)
	}
	writeDrop(t, filepath.Join(drop, "alice.pfx"), p12)

	w.mustSync()
	w.assertCerts(alice, a.DER)
	w.assertCerts(bob, b.DER)
	w.assertCerts(carol, c.DER)

	// A revocation reaches the directory through a CRL dropped next to the certificates.
	ca.Revoke(t, b.Serial, "keyCompromise")
	crl, err := os.ReadFile(ca.CRL(t, true))
	if err != nil {
		t.Fatal(err)
	}
	writeDrop(t, filepath.Join(drop, "corp.crl"), crl)
	out := w.mustSync()
	w.assertCerts(bob)
	w.assertCerts(alice, a.DER)
	if !strings.Contains(out, "revoked") {
		t.Errorf("plan does not say why bob's certificate left:\n%s", out)
	}

	// While a CRL of the issuer is stale, nothing of it is added, but what that CRL says is
	// revoked leaves all the same: a revocation is never undone.
	// `openssl ca -gencrl` with a nextUpdate an hour ago: a CA that stopped publishing.
	now := time.Now()
	ca.Revoke(t, c.Serial, "keyCompromise")
	stale, err := os.ReadFile(ca.CRLWindow(t, true, now.Add(-48*time.Hour), now.Add(-time.Hour)))
	if err != nil {
		t.Fatal(err)
	}
	writeDrop(t, filepath.Join(drop, "corp.crl"), stale)
	d := ca.Issue(t, "dave@corp.example")
	writeDrop(t, filepath.Join(drop, "dave.der"), d.DER)
	before := w.slapd.ModifyCount(t)
	out = w.mustSync()
	if n := w.slapd.ModifyCount(t) - before; n != 1 {
		t.Errorf("frozen issuer: %d modify operations, want 1 (carol's revoked key)\n%s", n, out)
	}
	w.assertCerts(carol)
	w.assertCerts(dave)
	w.assertCerts(alice, a.DER)
	if !strings.Contains(out, "issuer_frozen") {
		t.Errorf("plan does not report the frozen issuer:\n%s", out)
	}
	// The lookup keeps serving the frozen issuer's users what their entries hold.
	base := lookupAfterPass(t, w.writeConfig())
	if got := (sender{t: t}).fetch(base+"/certs/alice@corp.example", 200); !bytes.Equal(got, a.DER) {
		t.Error("while its issuer is frozen, alice's certificate is not served")
	}
	(sender{t: t}).fetch(base+"/certs/carol@corp.example", 404)
	(sender{t: t}).fetch(base+"/certs/dave@corp.example", 404)

	// A fresh CRL thaws it: dave's arrives.
	fresh, err := os.ReadFile(ca.CRL(t, true))
	if err != nil {
		t.Fatal(err)
	}
	writeDrop(t, filepath.Join(drop, "corp.crl"), fresh)
	w.mustSync()
	w.assertCerts(carol)
	w.assertCerts(dave, d.DER)
	w.assertCerts(alice, a.DER)

	// A folder that is gone is a source failure: nothing is removed.
	if err := os.Rename(drop, drop+".moved"); err != nil {
		t.Fatal(err)
	}
	w.failingSync("folder source")
	w.assertCerts(alice, a.DER)
	w.assertCerts(dave, d.DER)
}

// --- step-ca -----------------------------------------------------------------------------------

func TestSourcesStepCAEndToEnd(t *testing.T) {
	servertest.RequireSources(t)
	start := time.Now()
	pg := servertest.StartPostgres(t)
	ca := servertest.StartStepCA(t, pg.CreateDB(t, "stepca"))
	t.Logf("PostgreSQL and step-ca up in %s", time.Since(start).Round(time.Millisecond))
	w := newSrcWorld(t)
	w.source = fmt.Sprintf("  kind: stepca\n  stepca:\n    dsn_file: %s\n    crl_url: %s\n", secretFile(t, ca.DB.RODSN), ca.CRLURL)
	w.trust = []string{ca.IssuerFile}
	alice := w.slapd.AddUser(t, "people", "alice", "alice@corp.example")
	bob := w.slapd.AddUser(t, "people", "bob", "Bob@Corp.Example")

	a := ca.Issue(t, "alice@corp.example")
	b := ca.Issue(t, "bob@corp.example")
	w.mustSync()
	w.assertCerts(alice, a.DER)
	w.assertCerts(bob, b.DER)

	ca.Revoke(t, a.Serial)
	out := w.mustSync()
	w.assertCerts(alice)
	w.assertCerts(bob, b.DER)
	if !strings.Contains(out, "revoked") {
		t.Errorf("plan does not say why alice's certificate left:\n%s", out)
	}

	// A renewal through step-ca replaces bob's certificate. step-ca's notBefore has one-second
	// resolution, and keep: newest needs the renewal to be newer.
	time.Sleep(1100 * time.Millisecond)
	b2 := ca.Issue(t, "bob@corp.example")
	w.mustSync()
	w.assertCerts(bob, b2.DER)

	// The database down: the pass fails, nothing is removed.
	pg.Stop(t)
	w.failingSync("stepca source")
	w.assertCerts(bob, b2.DER)
}

// --- CFSSL -------------------------------------------------------------------------------------

func TestSourcesCFSSLEndToEnd(t *testing.T) {
	servertest.RequireSources(t)
	start := time.Now()
	pg := servertest.StartPostgres(t)
	ca := servertest.StartCFSSL(t, pg.CreateDB(t, "cfssl"))
	t.Logf("PostgreSQL and cfssl serve up in %s", time.Since(start).Round(time.Millisecond))
	w := newSrcWorld(t)
	dsn := secretFile(t, ca.DB.RODSN)
	w.source = fmt.Sprintf("  kind: cfssl\n  cfssl:\n    driver: postgres\n    dsn_file: %s\n", dsn)
	w.trust = []string{ca.CAFile}
	alice := w.slapd.AddUser(t, "people", "alice", "alice@corp.example")
	bob := w.slapd.AddUser(t, "people", "bob", "bob@corp.example")

	a := ca.Issue(t, "alice@corp.example")
	b := ca.Issue(t, "bob@corp.example")
	w.mustSync()
	w.assertCerts(alice, a.DER)
	w.assertCerts(bob, b.DER)

	ca.Revoke(t, b.Serial)
	w.mustSync()
	w.assertCerts(alice, a.DER)
	w.assertCerts(bob)

	// A wrong password: the pass fails, nothing is removed.
	w.source = fmt.Sprintf("  kind: cfssl\n  cfssl:\n    driver: postgres\n    dsn_file: %s\n",
		secretFile(t, strings.Replace(ca.DB.RODSN, "@", "wrong@", 1)))
	w.failingSync("password authentication failed")
	w.assertCerts(alice, a.DER)
}

// --- failures that need only PostgreSQL ----------------------------------------------------------

func TestSourcesDatabaseFailuresDeleteNothing(t *testing.T) {
	pg := servertest.StartPostgres(t)
	stepDB := pg.CreateDB(t, "stepca")
	cfsslDB := pg.CreateDB(t, "cfssl")
	w := newSrcWorld(t)
	ca := catest.New(t, "Corp S/MIME CA")
	w.trust = []string{ca.CertFile}
	alice := w.slapd.AddUser(t, "people", "alice", "alice@corp.example")
	a := ca.Issue(t, "alice@corp.example")
	w.slapd.SetCerts(t, alice, a.DER)

	cases := []struct{ name, source, errWant string }{
		{"stepca wrong password", fmt.Sprintf("  kind: stepca\n  stepca:\n    dsn_file: %s\n",
			secretFile(t, strings.Replace(stepDB.RODSN, "@", "wrong@", 1))), "password authentication failed"},
		{"stepca without its tables", fmt.Sprintf("  kind: stepca\n  stepca:\n    dsn_file: %s\n", secretFile(t, stepDB.RODSN)), "x509_certs"},
		{"cfssl without certdb", fmt.Sprintf("  kind: cfssl\n  cfssl:\n    dsn_file: %s\n", secretFile(t, cfsslDB.RODSN)), "certificates"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w.t = t
			w.source = tc.source
			w.failingSync(tc.errWant)
			w.assertCerts(alice, a.DER)
		})
	}
	w.t = t

	// A CA upgrade holds a lock on step-ca's table: the pass gives up after lock_timeout (1s
	// here, from the DSN; 10s by default) rather than hang the daemon, and writes nothing.
	lockedDB := pg.CreateDB(t, "stepcalocked")
	ctx := context.Background()
	lock, err := pgx.Connect(ctx, lockedDB.WriterDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close(ctx)
	if _, err := lock.Exec(ctx, `CREATE TABLE x509_certs (nkey bytea PRIMARY KEY, nvalue bytea);
		CREATE TABLE revoked_x509_certs (nkey bytea PRIMARY KEY, nvalue bytea)`); err != nil {
		t.Fatal(err)
	}
	tx, err := lock.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE x509_certs IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	w.source = fmt.Sprintf("  kind: stepca\n  stepca:\n    dsn_file: %s\n", secretFile(t, lockedDB.RODSN+"&lock_timeout=1s"))
	start := time.Now()
	w.failingSync("lock_timeout=1s")
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("two passes against a locked table took %s", took)
	}
	w.assertCerts(alice, a.DER)
	tx.Rollback(ctx)

	pg.Stop(t)
	w.source = fmt.Sprintf("  kind: cfssl\n  cfssl:\n    dsn_file: %s\n", secretFile(t, cfsslDB.RODSN))
	w.failingSync("connect")
	w.assertCerts(alice, a.DER)

	// sqlite is refused as a configuration error (exit 2), not a failed pass.
	w.source = fmt.Sprintf("  kind: cfssl\n  cfssl:\n    driver: sqlite\n    dsn_file: %s\n", secretFile(t, "file:/nonexistent.db"))
	if code, _, errOut := w.sync(); code != 2 || !strings.Contains(errOut, "not supported yet") {
		t.Errorf("sqlite: exit %d, want 2\n%s", code, errOut)
	}
}
