package certsource

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/certgal/certgal/certsource/servertest"
)

// lockTables holds an ACCESS EXCLUSIVE lock on tables, as a CA upgrade that
// migrates them would, until the returned function is called.
func lockTables(t *testing.T, dsn string, tables ...string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+table+` IN ACCESS EXCLUSIVE MODE`); err != nil {
			t.Fatal(err)
		}
	}
	done := false
	release = func() {
		if !done {
			done = true
			tx.Rollback(ctx)
			conn.Close(ctx)
		}
	}
	t.Cleanup(release)
	return release
}

// TestPostgresReadsGiveUpOnALockedTable: a read waits for a lock no longer
// than lock_timeout (10s unless the DSN says otherwise), statement_timeout or
// the pass's context, and its error says which.
func TestPostgresReadsGiveUpOnALockedTable(t *testing.T) {
	pg := servertest.StartPostgres(t)
	stepDB := pg.CreateDB(t, "stepca")
	cfsslDB := pg.CreateDB(t, "cfssl")
	trust := newTestCA(t, "unused").trust()
	for _, table := range []string{"x509_certs", "revoked_x509_certs"} {
		if err := pgExec(t, stepDB.WriterDSN, `CREATE TABLE `+table+` (nkey bytea PRIMARY KEY, nvalue bytea)`); err != nil {
			t.Fatal(err)
		}
	}
	if err := pgExec(t, cfsslDB.WriterDSN, `CREATE TABLE certificates (serial_number bytea, authority_key_identifier bytea,
		ca_label bytea, status bytea, reason int, expiry timestamptz, revoked_at timestamptz, pem bytea)`); err != nil {
		t.Fatal(err)
	}
	stepca := newTestStepCA(t, stepDB.RODSN, "", trust)
	if _, err := stepca.Read(context.Background()); err != nil {
		t.Fatalf("unlocked: %v", err)
	}
	release := lockTables(t, stepDB.WriterDSN, "x509_certs")

	// The pass's context ends first: the read stops with it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	_, err := stepca.Read(ctx)
	if took := time.Since(start); err == nil || took > 5*time.Second || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("locked, pass context of 1s: after %s: %v", took.Round(time.Millisecond), err)
	}

	// The default lock_timeout.
	start = time.Now()
	_, err = stepca.Read(context.Background())
	took := time.Since(start)
	if err == nil || took < 9*time.Second || took > 20*time.Second ||
		!strings.Contains(err.Error(), "read x509_certs") || !strings.Contains(err.Error(), "lock_timeout=10s") {
		t.Errorf("locked: after %s: %v; want a lock_timeout error naming the table after 10s", took.Round(time.Millisecond), err)
	}
	t.Logf("step-ca, table locked: %s: %v", took.Round(time.Millisecond), err)
	release()
	if _, err := stepca.Read(context.Background()); err != nil {
		t.Errorf("lock released: %v", err)
	}

	// The DSN's own statement_timeout wins over the default, and says so.
	lockTables(t, cfsslDB.WriterDSN, "certificates")
	start = time.Now()
	_, err = newTestCFSSL(t, cfsslDB.RODSN+"&statement_timeout=1s", trust).Read(context.Background())
	took = time.Since(start)
	if err == nil || took > 5*time.Second || !strings.Contains(err.Error(), "statement_timeout=1s") {
		t.Errorf("cfssl, locked, statement_timeout=1s in the DSN: after %s: %v", took.Round(time.Millisecond), err)
	}
	t.Logf("CFSSL, table locked: %s: %v", took.Round(time.Millisecond), err)
}
