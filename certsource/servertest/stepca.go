package servertest

import (
	"os"
	"strconv"
	"testing"
)

// StepCA is a running step-ca whose database is a PostgreSQL DB.
type StepCA struct {
	URL         string // https://127.0.0.1:PORT
	CRLURL      string // http://127.0.0.1:PORT/crl (insecureAddress)
	CRLHTTPSURL string // https://127.0.0.1:PORT/crl
	Root        string // root CA certificate file
	IssuerFile  string // the intermediate CA certificate file: it issues, and signs the CRL
	PID         int
	Dir         string
	DB          *DB
}

// StartStepCA initialises and starts a step-ca keeping its data in db, and stops it when t ends.
// It skips t unless CERTGAL_SOURCES=1.
func StartStepCA(t testing.TB, db *DB) *StepCA {
	t.Helper()
	env := []string{"STEPCA_DB_DSN=" + db.WriterDSN, "STEPCA_DB_NAME=" + db.Name,
		"STEPCA_OWNER_PID=" + strconv.Itoa(os.Getpid())}
	dir, vars := startCA(t, "stepca", env,
		"STEPCA_URL", "STEPCA_CRL_URL", "STEPCA_ROOT", "STEPCA_ISSUER", "STEPCA_PID")
	pid, _ := strconv.Atoi(vars["STEPCA_PID"])
	return &StepCA{URL: vars["STEPCA_URL"], CRLURL: vars["STEPCA_CRL_URL"], CRLHTTPSURL: vars["STEPCA_CRL_HTTPS_URL"],
		Root: vars["STEPCA_ROOT"], IssuerFile: vars["STEPCA_ISSUER"], PID: pid, Dir: dir, DB: db}
}

// Issue has step-ca issue an S/MIME certificate for email (step ca certificate) and returns
// its decimal serial and DER.
func (s *StepCA) Issue(t testing.TB, email string) Issued {
	t.Helper()
	return issue(t, "stepca", s.Dir, email, ".crt")
}

// Revoke revokes serial (decimal) through step-ca's API with reason code 1, keyCompromise.
func (s *StepCA) Revoke(t testing.TB, serial string) {
	t.Helper()
	revoke(t, "stepca", s.Dir, serial)
}
