package servertest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
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

// buildTimeout covers building step-ca, step or cfssl from source the first time.
const buildTimeout = 15 * time.Minute

// StartStepCA initialises and starts a step-ca keeping its data in db, and stops it when t ends.
// It skips t unless CERTGAL_SOURCES=1.
func StartStepCA(t testing.TB, db *DB) *StepCA {
	t.Helper()
	RequireSources(t)
	dir := t.TempDir()
	t.Cleanup(func() { stopScript(t, "stepca", dir) })
	script(t, buildTimeout, []string{"STEPCA_DB_DSN=" + db.WriterDSN, "STEPCA_DB_NAME=" + db.Name,
		"STEPCA_OWNER_PID=" + strconv.Itoa(os.Getpid())}, "stepca", "start.sh", dir)
	vars := readEnv(t, filepath.Join(dir, "env"))
	need(t, vars, "STEPCA_URL", "STEPCA_CRL_URL", "STEPCA_ROOT", "STEPCA_ISSUER", "STEPCA_PID")
	pid, _ := strconv.Atoi(vars["STEPCA_PID"])
	return &StepCA{URL: vars["STEPCA_URL"], CRLURL: vars["STEPCA_CRL_URL"], CRLHTTPSURL: vars["STEPCA_CRL_HTTPS_URL"],
		Root: vars["STEPCA_ROOT"], IssuerFile: vars["STEPCA_ISSUER"], PID: pid, Dir: dir, DB: db}
}

// Issue has step-ca issue an S/MIME certificate for email (step ca certificate) and returns
// its decimal serial and DER.
func (s *StepCA) Issue(t testing.TB, email string) Issued {
	t.Helper()
	serial := strings.TrimSpace(script(t, time.Minute, nil, "stepca", "ca.sh", "issue", s.Dir, email))
	return readIssued(t, serial, filepath.Join(s.Dir, "issued", serial+".crt"))
}

// Revoke revokes serial (decimal) through step-ca's API with reason code 1, keyCompromise.
func (s *StepCA) Revoke(t testing.TB, serial string) {
	t.Helper()
	script(t, time.Minute, nil, "stepca", "ca.sh", "revoke", s.Dir, serial)
}
