package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/certsource"
	"github.com/certgal/certgal/certsource/catest"
	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/internal/racedir"
	"github.com/certgal/certgal/ldapgal"
	"github.com/certgal/certgal/ldapgal/ldaptest"
	"github.com/certgal/certgal/sync"
)

// passRig is a Syncer wired as certgal wires it, against a real slapd and an
// `openssl ca` store: the pass as a whole, beside sync's own tests, which
// need no server.
type passRig struct {
	slapd  *ldaptest.Slapd
	ca     *catest.CA
	reg    *prometheus.Registry
	dir    *racedir.Directory
	syncer *sync.Syncer
}

func newPassRig(t *testing.T) *passRig {
	t.Helper()
	r := &passRig{slapd: ldaptest.StartSlapd(t), ca: catest.New(t, "Corp S/MIME CA"), reg: prometheus.NewRegistry()}
	return r
}

// build wires a Syncer the way certgal does, against the rig's real servers.
func (r *passRig) build(t *testing.T) {
	t.Helper()
	log, _ := test.NewNullLogger()
	trust, err := certsource.LoadTrust([]string{r.ca.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default().Dir
	cfg.URL, cfg.CAFile, cfg.BaseDN = r.slapd.LDAPSURL, r.slapd.CAFile, r.slapd.Suffix
	cfg.BindDN, cfg.BindPassword = r.slapd.RootDN, config.Secret(r.slapd.RootPW)
	client, err := ldapgal.Open(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	r.dir = racedir.New(client, nil)
	src := certsource.NewOpenSSL(config.OpenSSL{Dir: r.ca.Dir}, trust, log)
	pol := sync.Policy{ExpiredGrace: 24 * time.Hour, MaxValues: 15, MaxDeletes: 500}
	r.syncer = sync.NewSyncer(src, r.dir, trust, pol, log, sync.NewMetrics(r.reg))
}

func TestPassConvergesAfterConcurrentWriters(t *testing.T) {
	r := newPassRig(t)
	now := time.Now()
	alice := r.slapd.AddUser(t, "people", "alice", "alice@corp.example")
	bob := r.slapd.AddUser(t, "people", "bob", "bob@corp.example")
	aOld := r.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-48*time.Hour), now.Add(300*24*time.Hour)))
	b := r.ca.Issue(t, "bob@corp.example")
	r.slapd.SetCerts(t, alice, aOld.DER)
	r.slapd.SetCerts(t, bob, b.DER)
	aNew := r.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-time.Hour), now.Add(365*24*time.Hour)))
	r.ca.Revoke(t, b.Serial, "keyCompromise")
	r.build(t)

	// Someone else publishes alice's new certificate first (our add gets result 20),
	// and someone else removes bob's revoked one first (our delete gets result 16).
	r.dir.Before(alice, func() { r.slapd.SetCerts(t, alice, aOld.DER, aNew.DER) })
	r.dir.Before(bob, func() { r.slapd.SetCerts(t, bob) })
	before := r.slapd.ModifyCount(t)
	res, err := r.syncer.Pass(context.Background(), false)
	if err != nil || res.Err != nil || res.Status != sync.ResultSuccess {
		t.Fatalf("pass: %v, %v, %s", err, res.Err, res.Status)
	}
	if got := r.slapd.Certs(t, alice); len(got) != 1 || !bytes.Equal(got[0], aNew.DER) {
		t.Errorf("alice holds %d values, want only the new certificate", len(got))
	}
	if got := r.slapd.Certs(t, bob); len(got) != 0 {
		t.Errorf("bob holds %d values, want none", len(got))
	}
	// 2 racing writes, 2 refused modifies (also counted by slapd), 1 recomputed modify for alice.
	if n := r.slapd.ModifyCount(t) - before; n != 5 {
		t.Errorf("%d modify operations, want 5", n)
	}
	if n := r.value(t, "certgal_sync_entry_errors_total"); n != 0 {
		t.Errorf("entry errors %v, want 0", n)
	}
}

// value reads an unlabelled counter or gauge from the rig's registry.
func (r *passRig) value(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := r.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func TestPassMetrics(t *testing.T) {
	r := newPassRig(t)
	r.slapd.AddUser(t, "people", "alice", "alice@corp.example")
	r.slapd.AddUser(t, "people", "bob", "bob@corp.example")
	r.slapd.AddUser(t, "people", "carol", "carol@corp.example")
	r.ca.Issue(t, "alice@corp.example")
	gone := r.ca.Issue(t, "bob@corp.example")
	r.ca.Revoke(t, gone.Serial, "keyCompromise")
	r.ca.Issue(t, "nobody@corp.example")
	r.ca.Issue(t, "carol@corp.example", catest.WithExt("server"))
	r.build(t)
	for range 2 {
		if _, err := r.syncer.Pass(context.Background(), false); err != nil {
			t.Fatal(err)
		}
	}
	want := `
# HELP certgal_directory_users Users read from the directory at the last pass.
# TYPE certgal_directory_users gauge
certgal_directory_users 3
# HELP certgal_source_certificates Certificates in the CA store at the last pass, by state.
# TYPE certgal_source_certificates gauge
certgal_source_certificates{state="expired"} 0
certgal_source_certificates{state="not_yet_valid"} 0
certgal_source_certificates{state="revoked"} 1
certgal_source_certificates{state="untrusted"} 0
certgal_source_certificates{state="unusable"} 1
certgal_source_certificates{state="valid"} 2
# HELP certgal_sync_changes_total Values written to the directory, by action.
# TYPE certgal_sync_changes_total counter
certgal_sync_changes_total{action="add"} 1
certgal_sync_changes_total{action="remove"} 0
# HELP certgal_sync_entries_failed Entries not written, or written only in part, by the last pass that wrote (result success or entry_errors).
# TYPE certgal_sync_entries_failed gauge
certgal_sync_entries_failed 0
# HELP certgal_sync_passes_total Passes run, by result.
# TYPE certgal_sync_passes_total counter
certgal_sync_passes_total{result="blocked"} 0
certgal_sync_passes_total{result="directory_error"} 0
certgal_sync_passes_total{result="dry_run"} 0
certgal_sync_passes_total{result="entry_errors"} 0
certgal_sync_passes_total{result="source_error"} 0
certgal_sync_passes_total{result="success"} 2
# HELP certgal_sync_skipped_total Certificates, values and CA store inputs skipped, by reason.
# TYPE certgal_sync_skipped_total counter
certgal_sync_skipped_total{reason="ambiguous_address"} 0
certgal_sync_skipped_total{reason="broken_smime"} 0
certgal_sync_skipped_total{reason="foreign_smime"} 0
certgal_sync_skipped_total{reason="issuer_frozen"} 0
certgal_sync_skipped_total{reason="max_values"} 0
certgal_sync_skipped_total{reason="no_user"} 2
certgal_sync_skipped_total{reason="stale_smime"} 0
certgal_sync_skipped_total{reason="unknown_to_source"} 0
certgal_sync_skipped_total{reason="untrusted_issuer"} 0
certgal_sync_skipped_total{reason="unusable_no_email_protection"} 2
certgal_sync_skipped_total{reason="value_rejected"} 0
certgal_sync_skipped_total{reason="value_too_large"} 0
`
	if err := testutil.GatherAndCompare(r.reg, strings.NewReader(want),
		"certgal_directory_users", "certgal_source_certificates", "certgal_sync_changes_total", "certgal_sync_entries_failed",
		"certgal_sync_passes_total", "certgal_sync_skipped_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(r.reg, "certgal_sync_duration_seconds"); n != 1 {
		t.Errorf("duration histogram: %d series", n)
	}
}
