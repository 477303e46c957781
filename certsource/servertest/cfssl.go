package servertest

import (
	"os"
	"strconv"
	"testing"
)

// CFSSL is a running `cfssl serve` whose certdb is a PostgreSQL DB.
type CFSSL struct {
	URL    string // http://127.0.0.1:PORT
	CAFile string // the CA certificate: it issues every certificate
	PID    int
	Dir    string
	DB     *DB
}

// StartCFSSL creates the certdb schema in db from cfssl's own migrations, starts cfssl serve and
// stops it when t ends. It skips t unless CERTGAL_SOURCES=1.
func StartCFSSL(t testing.TB, db *DB) *CFSSL {
	t.Helper()
	dir, vars := startCA(t, "cfssl", []string{"CFSSL_DB_DSN=" + db.WriterDSN, "CFSSL_OWNER_PID=" + strconv.Itoa(os.Getpid())},
		"CFSSL_URL", "CFSSL_CA", "CFSSL_PID")
	pid, _ := strconv.Atoi(vars["CFSSL_PID"])
	return &CFSSL{URL: vars["CFSSL_URL"], CAFile: vars["CFSSL_CA"], PID: pid, Dir: dir, DB: db}
}

// Issue has CFSSL issue an S/MIME certificate for email (POST /api/v1/cfssl/newcert).
func (c *CFSSL) Issue(t testing.TB, email string) Issued {
	t.Helper()
	return issue(t, "cfssl", c.Dir, email, ".pem")
}

// Revoke revokes serial (decimal) with reason keyCompromise (POST /api/v1/cfssl/revoke).
func (c *CFSSL) Revoke(t testing.TB, serial string) {
	t.Helper()
	revoke(t, "cfssl", c.Dir, serial)
}
