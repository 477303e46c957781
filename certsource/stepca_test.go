package certsource

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/certsource/servertest"
	"github.com/certgal/certgal/config"
)

func quietLog() logrus.FieldLogger {
	log, _ := test.NewNullLogger()
	return log
}

func newTestStepCA(t *testing.T, dsn, crlURL string, trust *Trust) *StepCA {
	t.Helper()
	s, err := NewStepCA(config.StepCA{DSN: config.Secret(dsn), CRLURL: crlURL}, trust, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pgExec runs statements as dsn's role, e.g. the CA's writer to plant odd rows.
func pgExec(t *testing.T, dsn string, sql string, args ...any) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

func bySerial(snap *Snapshot) map[string]*Certificate {
	m := map[string]*Certificate{}
	for _, c := range snap.Certificates {
		m[c.Cert.SerialNumber.String()] = c
	}
	return m
}

func TestStepCAAgainstARealStepCA(t *testing.T) {
	servertest.RequireSources(t)
	pg := servertest.StartPostgres(t)
	db := pg.CreateDB(t, "stepca")
	ca := servertest.StartStepCA(t, db)
	trust, err := LoadTrust([]string{ca.IssuerFile})
	if err != nil {
		t.Fatal(err)
	}
	alice := ca.Issue(t, "alice@corp.example")
	bob := ca.Issue(t, "bob@corp.example")

	src := newTestStepCA(t, db.RODSN, "", trust)
	snap := readSnapshot(t, src)
	got := bySerial(snap)
	if len(got) != 2 || got[alice.Serial] == nil || got[bob.Serial] == nil {
		t.Fatalf("certificates %v, want alice %s and bob %s", snapSerials(snap), alice.Serial, bob.Serial)
	}
	for _, c := range got {
		if c.Status != StatusValid {
			t.Errorf("%s: status %s", c.Origin(), c.Status)
		}
		if _, ok := trust.Issuer(c.Cert); !ok {
			t.Errorf("%s does not verify against the step-ca intermediate", c.Origin())
		}
	}
	if len(snap.Problems) != 0 {
		t.Errorf("problems %v", snap.Problems)
	}

	ca.Revoke(t, alice.Serial)
	snap = readSnapshot(t, src)
	got = bySerial(snap)
	if a := got[alice.Serial]; a.Status != StatusRevoked || revokedOf(a).Reason != "keyCompromise" || revokedOf(a).At.IsZero() {
		t.Errorf("alice after revoke: %s %+v", a.Status, revokedOf(a))
	}
	if got[bob.Serial].Status != StatusValid {
		t.Errorf("bob: %s", got[bob.Serial].Status)
	}
	if len(snap.Revocations) != 1 || snap.Revocations[0].Serial.String() != alice.Serial {
		t.Errorf("revocations %v", snap.Revocations)
	}
	if got[bob.Serial].Cert != bySerial(readSnapshot(t, src))[bob.Serial].Cert {
		t.Error("an unchanged row was parsed again")
	}

	// step-ca's CRL, over plain HTTP and over HTTPS (its server certificate is signed by the
	// intermediate certgal trusts).
	for _, url := range []string{ca.CRLURL, ca.CRLHTTPSURL} {
		snap = readSnapshot(t, newTestStepCA(t, db.RODSN, url, trust))
		n := 0
		for _, r := range snap.Revocations {
			if r.Serial.String() == alice.Serial {
				n++
			}
		}
		if n != 2 || len(snap.Problems) != 0 {
			t.Errorf("%s: alice revoked %d times (database and CRL), want 2; problems %v", url, n, snap.Problems)
		}
	}
	// A CRL endpoint that is down is reported, and the database still rules.
	snap = readSnapshot(t, newTestStepCA(t, db.RODSN, "http://127.0.0.1:1/crl", trust))
	if snap.Problems[ReasonCRLUnavailable] != 1 || len(snap.Certificates) != 2 {
		t.Errorf("CRL down: problems %v, %d certificates", snap.Problems, len(snap.Certificates))
	}

	// Rows step-ca would not write are skipped and counted.
	for _, row := range []struct{ table, key, value string }{
		{"x509_certs", "1234", "not DER"},
		{"x509_certs", "999", string(bob.DER)},
		{"revoked_x509_certs", "4242", `{"Serial":"4242","ReasonCode":1}`},
		{"revoked_x509_certs", bob.Serial, `{not json`},
	} {
		if err := pgExec(t, db.WriterDSN, `INSERT INTO `+row.table+` (nkey, nvalue) VALUES ($1, $2)`, []byte(row.key), []byte(row.value)); err != nil {
			t.Fatal(err)
		}
	}
	snap = readSnapshot(t, src)
	want := map[string]int{ReasonBadCertificate: 1, ReasonSerialMismatch: 1, ReasonUnknownRevocation: 1, ReasonBadRevocation: 1}
	for reason, n := range want {
		if snap.Problems[reason] != n {
			t.Errorf("problems %v, want %v", snap.Problems, want)
			break
		}
	}
	if got := bySerial(snap); len(got) != 2 || got[bob.Serial].Status != StatusValid {
		t.Errorf("after odd rows: %v", snapSerials(snap))
	}

	// certgal's role cannot write, whatever the source would try.
	err = pgExec(t, db.RODSN, `DELETE FROM x509_certs`)
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("delete as %s: %v, want a read-only transaction error", db.RO, err)
	}
}

func TestStepCAFailuresAreSourceErrors(t *testing.T) {
	pg := servertest.StartPostgres(t)
	db := pg.CreateDB(t, "stepca")
	trust := newTestCA(t, "unused").trust()

	// A database step-ca never wrote to has no tables.
	_, err := newTestStepCA(t, db.RODSN, "", trust).Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "x509_certs") {
		t.Errorf("empty database: %v", err)
	}

	wrong := strings.Replace(db.RODSN, "@", "x@", 1)
	_, err = newTestStepCA(t, wrong, "", trust).Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("wrong password: %v", err)
	}

	_, err = NewStepCA(config.StepCA{DSN: "postgres://u:s3cret@host:notaport/db"}, trust, quietLog())
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad DSN: %v (must not quote the password)", err)
	}

	pg.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = newTestStepCA(t, db.RODSN, "", trust).Read(ctx)
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Errorf("database down: %v", err)
	}
}
