package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/certsource"
	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/ldapgal/ldaptest"
	"github.com/certgal/certgal/sync"
)

// record is one LDIF record as the generator writes it (no folding).
type record struct {
	dn    string
	attrs map[string][]string // base64 values stay encoded
	// changes are "delete ATTR" / "add ATTR" sections of a modify, in order.
	changes []change
}

type change struct {
	op     string
	values []string
}

func readLDIF(t *testing.T, path string) []record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []record
	for _, block := range strings.Split(strings.TrimSpace(string(data)), "\n\n") {
		if block == "" {
			continue
		}
		r := record{attrs: map[string][]string{}}
		var cur *change
		sc := bufio.NewScanner(strings.NewReader(block))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if line == "-" {
				cur = nil
				continue
			}
			k, v, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("%s: bad line %q", path, line)
			}
			k = strings.TrimSuffix(k, ":")
			switch {
			case k == "dn":
				r.dn = v
			case k == "changetype":
			case k == "add" || k == "delete":
				r.changes = append(r.changes, change{op: k})
				cur = &r.changes[len(r.changes)-1]
			case cur != nil:
				cur.values = append(cur.values, v)
			default:
				r.attrs[k] = append(r.attrs[k], v)
			}
		}
		out = append(out, r)
	}
	return out
}

func der(t *testing.T, b64 string) []byte {
	t.Helper()
	d, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// ldifDirectory serves a users LDIF as the directory of a dry-run pass.
type ldifDirectory struct{ entries []sync.Entry }

func (d ldifDirectory) Users(_ context.Context, fn func(sync.Entry) error) error {
	for _, e := range d.entries {
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

func (d ldifDirectory) User(_ context.Context, dn string) (sync.Entry, error) {
	for _, e := range d.entries {
		if e.DN == dn {
			return e, nil
		}
	}
	return sync.Entry{}, os.ErrNotExist
}

func (ldifDirectory) Modify(context.Context, sync.Modification) error {
	panic("dry run only")
}

func generateWorld(t *testing.T, args ...string) (string, summary) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "world")
	var stdout, stderr bytes.Buffer
	if code := run(append([]string{"-out", dir}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("certgal-gen exited %d: %s", code, stderr.String())
	}
	var sum summary
	b, err := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sum); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bind-password"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, sum
}

// dryRun is certgal's own rules over a generated world: a dry-run Syncer.Pass
// on the world's CA directory (as its certgal.yaml names it) and users.
type dryRun struct {
	cfg   *config.Config
	trust *certsource.Trust
	log   *logrus.Logger
}

// newDryRun loads the certgal.yaml of the world in the working directory.
func newDryRun(t *testing.T) dryRun {
	t.Helper()
	cfg, err := config.LoadFile("certgal.yaml")
	if err != nil {
		t.Fatalf("the generated certgal.yaml does not load: %v", err)
	}
	trust, err := certsource.LoadTrust(cfg.Trust.CAFiles)
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(&bytes.Buffer{})
	return dryRun{cfg: cfg, trust: trust, log: log}
}

// usersOf reads a users LDIF as directory entries, and counts their values.
func usersOf(t *testing.T, path string) (entries []sync.Entry, values int) {
	t.Helper()
	for _, r := range readLDIF(t, path) {
		e := sync.Entry{DN: r.dn, Addresses: r.attrs["mail"]}
		for _, v := range r.attrs["userCertificate;binary"] {
			e.Certificates = append(e.Certificates, der(t, v))
		}
		values += len(e.Certificates)
		entries = append(entries, e)
	}
	return entries, values
}

// pass plans a pass over entries; it fails the test on an error or a blocked plan.
func (d dryRun) pass(t *testing.T, entries []sync.Entry) *sync.Result {
	t.Helper()
	pol := sync.Policy{ExpiredGrace: d.cfg.Policy.ExpiredGrace, MaxValues: d.cfg.Policy.MaxValues, MaxDeletes: d.cfg.Policy.MaxDeletes,
		SMIMEWholeAttribute: true}
	src := certsource.NewOpenSSL(d.cfg.Source.OpenSSL, d.trust, d.log)
	s := sync.NewSyncer(src, ldifDirectory{entries}, d.trust, pol, d.log, sync.NewMetrics(prometheus.NewRegistry()))
	res, err := s.Pass(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Plan.Blocked != "" {
		t.Fatalf("blocked: %s", res.Plan.Blocked)
	}
	return res
}

// checkPlan checks that the plan of res is exactly the change LDIF at path and
// counts what the summary says; it returns the plan's removals and additions by reason.
func checkPlan(t *testing.T, res *sync.Result, path string, n stateN) map[string]int {
	t.Helper()
	var got []string
	for _, e := range res.Plan.Entries {
		for _, c := range e.Removes {
			got = append(got, e.DN+" delete "+c.SHA256+" "+c.Reason)
		}
		for _, c := range e.Adds {
			got = append(got, e.DN+" add "+c.SHA256+" "+c.Reason)
		}
	}
	var want []string
	for _, r := range readLDIF(t, path) {
		for _, c := range r.changes {
			for _, v := range c.values {
				sum := sha256.Sum256(der(t, v))
				want = append(want, r.dn+" "+c.op+" "+hex.EncodeToString(sum[:]))
			}
		}
	}
	// The plan's reasons are the rules at work; the LDIF does not carry them.
	reasons := map[string]int{}
	for i, g := range got {
		f := strings.Fields(g)
		reasons[f[1]+" "+f[3]]++
		got[i] = strings.Join(f[:3], " ")
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("certgal plans %d changes, %s has %d; first plan lines %q, first LDIF lines %q",
			len(got), path, len(want), got[:min(3, len(got))], want[:min(3, len(want))])
	}
	adds, removes, _ := res.Plan.Counts()
	if adds != n.Adds || removes != n.Removes || len(res.Plan.Entries) != n.Entries {
		t.Fatalf("plan: %d adds, %d removes, %d entries; summary: %+v", adds, removes, len(res.Plan.Entries), n)
	}
	return reasons
}

// TestWorldAsCertgalSeesIt plans a pass over each generated state with
// certgal's own rules (a dry-run Syncer.Pass on the generated CA directory and
// users) and checks it is exactly the change LDIF and summary the generator wrote.
func TestWorldAsCertgalSeesIt(t *testing.T) {
	dir, sum := generateWorld(t, "-n", "400", "-published", "none,previous,current", "-seed", "7",
		"-bind-password-file", "bind-password")
	if sum.Certificates["current"] != 400 || sum.Certificates["revoked"] == 0 || sum.Certificates["superseded"] == 0 ||
		sum.Certificates["expired"] == 0 || sum.Foreign["partner_ca"] == 0 || sum.Foreign["self_signed"] == 0 {
		t.Fatalf("the mix lacks a kind of certificate: %+v %+v", sum.Certificates, sum.Foreign)
	}
	if sum.Renewal != nil || sum.PublishedDERBytes < 400*300 {
		t.Fatalf("renewal %+v without -renew; published DER %d bytes", sum.Renewal, sum.PublishedDERBytes)
	}
	t.Chdir(dir) // certgal.yaml names bind-password relative to the working directory
	d := newDryRun(t)

	for _, st := range []state{stateNone, statePrevious, stateCurrent} {
		t.Run(string(st), func(t *testing.T) {
			entries, values := usersOf(t, "users-"+string(st)+".ldif")
			if len(entries) != 400 || values != sum.States[st].Values {
				t.Fatalf("users LDIF: %d users, %d values; summary says %d values", len(entries), values, sum.States[st].Values)
			}
			res := d.pass(t, entries)
			reasons := checkPlan(t, res, "changes-"+string(st)+".ldif", sum.States[st])
			if st == statePrevious && (reasons["delete "+sync.ReasonRevoked] == 0 || reasons["delete "+sync.ReasonExpired] == 0 ||
				reasons["delete "+sync.ReasonSuperseded] == 0) {
				t.Fatalf("previous state: changes by reason %v; want revoked, expired and superseded removals", reasons)
			}
			skips := map[string]int{}
			for _, c := range res.Plan.Skips {
				skips[c.Reason]++
			}
			if skips[sync.ReasonNoUser] != sum.Certificates["no_user"] || skips[sync.ReasonUnusablePrefix+"no_email_protection"] != sum.Certificates["unusable"] {
				t.Fatalf("skips %v; summary %v", skips, sum.Certificates)
			}
		})
	}
}

// TestRenewal applies the later CA store of -renew to the world as `openssl ca`
// changes a store (the new certificates first, then index.txt by rename) and
// checks with certgal's own rules that the pass from the converged directory
// is exactly renewed/changes.ldif: each renewed user's certificate replaced by
// its renewal, nothing else.
func TestRenewal(t *testing.T) {
	dir, sum := generateWorld(t, "-n", "400", "-published", "current", "-renew", "10", "-seed", "3",
		"-bind-password-file", "bind-password")
	r := sum.Renewal
	if r == nil || r.Renewed != 40 || r.Entries != 40 || r.Adds != 40 || r.Removes != 40 {
		t.Fatalf("renewal %+v; want 40 users renewed, each one certificate replaced", r)
	}
	t.Chdir(dir)
	d := newDryRun(t)
	entries, _ := usersOf(t, "users-current.ldif")
	if res := d.pass(t, entries); len(res.Plan.Entries) != 0 {
		t.Fatalf("before the renewal the pass changes %d entries", len(res.Plan.Entries))
	}

	news, err := filepath.Glob(filepath.Join("renewed", "newcerts", "*.pem"))
	if err != nil || len(news) != 40 {
		t.Fatalf("renewed/newcerts: %d files, %v", len(news), err)
	}
	for _, f := range news {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("ca", "newcerts", filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join("renewed", "index.txt"))
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(filepath.Join("ca", "index.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, old) || bytes.Count(b, []byte("\n"))-bytes.Count(old, []byte("\n")) != 40 {
		t.Fatalf("renewed/index.txt is not the old index and 40 lines more")
	}
	if err := os.WriteFile(filepath.Join("ca", "index.txt.new"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join("ca", "index.txt.new"), filepath.Join("ca", "index.txt")); err != nil {
		t.Fatal(err)
	}

	res := d.pass(t, entries)
	reasons := checkPlan(t, res, filepath.Join("renewed", "changes.ldif"), stateN{Entries: r.Entries, Adds: r.Adds, Removes: r.Removes})
	if reasons["delete "+sync.ReasonSuperseded] != 40 || len(reasons) != 2 {
		t.Fatalf("changes by reason %v; want 40 superseded removals and their 40 additions", reasons)
	}
	// The renewed certificates' DER may add up to the old total (new signatures differ in
	// length by a byte or two either way), so the figure is checked against what certgal's
	// own plan publishes.
	published := 0
	for _, p := range res.Plan.Published {
		for _, c := range p.Certs {
			published += c.Size()
		}
	}
	if r.PublishedDERBytes != published || published < 400*300 {
		t.Fatalf("published DER: certgal-gen says %d bytes after the renewals, certgal's plan publishes %d", r.PublishedDERBytes, published)
	}
}

// TestADLDIF checks the Active Directory flavour: objectClass user, proxyAddresses, plain userCertificate.
func TestADLDIF(t *testing.T) {
	dir, sum := generateWorld(t, "-n", "50", "-published", "current", "-ad-base", "OU=bench,DC=corp,DC=example,DC=com")
	recs := readLDIF(t, filepath.Join(dir, "users-current-ad.ldif"))
	if len(recs) != 51 || recs[0].dn != "OU=bench,DC=corp,DC=example,DC=com" {
		t.Fatalf("%d records, first %q", len(recs), recs[0].dn)
	}
	values := 0
	for _, r := range recs[1:] {
		if r.attrs["objectClass"][0] != "user" || !strings.HasPrefix(r.attrs["proxyAddresses"][0], "SMTP:") ||
			len(r.attrs["userCertificate;binary"]) > 0 || r.attrs["sAMAccountName"] == nil {
			t.Fatalf("not an AD user: %+v", r)
		}
		values += len(r.attrs["userCertificate"])
	}
	if values != sum.States[stateCurrent].Values {
		t.Fatalf("%d values, summary %d", values, sum.States[stateCurrent].Values)
	}
}

// TestPreloadIntoSlapd loads a generated users LDIF with testdata/slapd/start.sh's PRELOAD_LDIF.
func TestPreloadIntoSlapd(t *testing.T) {
	dir, sum := generateWorld(t, "-n", "200", "-published", "current")
	t.Setenv("PRELOAD_LDIF", filepath.Join(dir, "users-current.ldif"))
	s := ldaptest.StartSlapd(t)
	recs := readLDIF(t, filepath.Join(dir, "users-current.ldif"))
	values := 0
	for _, r := range []record{recs[0], recs[len(recs)-1]} {
		got := s.Certs(t, r.dn)
		if len(got) != len(r.attrs["userCertificate;binary"]) {
			t.Fatalf("%s: %d values in slapd, %d in the LDIF", r.dn, len(got), len(r.attrs["userCertificate;binary"]))
		}
		values += len(got)
	}
	if values == 0 || sum.Users != 200 {
		t.Fatalf("no values loaded")
	}
}
