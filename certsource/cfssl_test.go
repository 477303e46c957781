package certsource

import (
	"context"
	"strings"
	"testing"

	"github.com/certgal/certgal/certsource/servertest"
	"github.com/certgal/certgal/config"
)

func newTestCFSSL(t *testing.T, dsn string, trust *Trust) *CFSSL {
	t.Helper()
	c, err := NewCFSSL(config.CFSSL{Driver: "postgres", DSN: config.Secret(dsn)}, trust, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCFSSLAgainstARealCFSSL(t *testing.T) {
	servertest.RequireSources(t)
	pg := servertest.StartPostgres(t)
	db := pg.CreateDB(t, "cfssl")
	ca := servertest.StartCFSSL(t, db)
	trust, err := LoadTrust([]string{ca.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	alice := ca.Issue(t, "alice@corp.example")
	bob := ca.Issue(t, "bob@corp.example")
	src := newTestCFSSL(t, db.RODSN, trust)
	snap := readSnapshot(t, src)
	got := bySerial(snap)
	if len(got) != 2 || got[alice.Serial] == nil || got[bob.Serial] == nil || len(snap.Problems) != 0 {
		t.Fatalf("certificates %v, problems %v; want alice %s and bob %s", snapSerials(snap), snap.Problems, alice.Serial, bob.Serial)
	}
	for _, c := range got {
		if c.Status != StatusValid || len(c.Cert.EmailAddresses) != 1 {
			t.Errorf("%s: status %s, addresses %v", c.Origin(), c.Status, c.Cert.EmailAddresses)
		}
	}

	ca.Revoke(t, alice.Serial)
	snap = readSnapshot(t, src)
	got = bySerial(snap)
	if a := got[alice.Serial]; a.Status != StatusRevoked || revokedOf(a).Reason != "keyCompromise" || revokedOf(a).At.IsZero() {
		t.Errorf("alice after revoke: %s %+v", a.Status, revokedOf(a))
	}
	if len(snap.Revocations) != 1 || snap.Revocations[0].Serial.String() != alice.Serial {
		t.Errorf("revocations %v", snap.Revocations)
	}
	if got[bob.Serial].Cert != bySerial(readSnapshot(t, src))[bob.Serial].Cert {
		t.Error("an unchanged row was parsed again")
	}

	// Rows CFSSL would not write are skipped and counted.
	for _, row := range [][]string{
		{"1", "aa", "good", "not PEM"},
		{"2", "aa", "good", string(certPEM(bob.Cert))},
		{"3", "aa", "on hold", string(certPEM(bob.Cert))},
	} {
		err := pgExec(t, db.WriterDSN, `INSERT INTO certificates (serial_number, authority_key_identifier, status, pem) VALUES ($1, $2, $3, $4)`,
			[]byte(row[0]), []byte(row[1]), []byte(row[2]), []byte(row[3]))
		if err != nil {
			t.Fatal(err)
		}
	}
	snap = readSnapshot(t, src)
	if snap.Problems[ReasonBadCertificate] != 1 || snap.Problems[ReasonSerialMismatch] != 2 || len(snap.Certificates) != 2 {
		t.Errorf("after odd rows: problems %v, %d certificates", snap.Problems, len(snap.Certificates))
	}

	err = pgExec(t, db.RODSN, `UPDATE certificates SET status = 'good'`)
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("update as %s: %v, want a read-only transaction error", db.RO, err)
	}
}

func TestCFSSLFailuresAreSourceErrors(t *testing.T) {
	pg := servertest.StartPostgres(t)
	db := pg.CreateDB(t, "cfssl")
	trust := newTestCA(t, "unused").trust()

	_, err := newTestCFSSL(t, db.RODSN, trust).Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "certificates") {
		t.Errorf("database without the certdb schema: %v", err)
	}
	wrong := strings.Replace(db.RODSN, "@", "x@", 1)
	_, err = newTestCFSSL(t, wrong, trust).Read(context.Background())
	if err == nil || !strings.Contains(err.Error(), "password authentication failed") {
		t.Errorf("wrong password: %v", err)
	}
	_, err = NewCFSSL(config.CFSSL{Driver: "sqlite", DSN: "file:/var/lib/cfssl/certdb.db"}, trust, quietLog())
	if err == nil || !strings.Contains(err.Error(), "not supported yet") {
		t.Errorf("sqlite: %v", err)
	}
}
