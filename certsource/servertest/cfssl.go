package servertest

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// CFSSL is a running `cfssl serve` whose certdb is a PostgreSQL DB.
type CFSSL struct {
	URL    string // http://127.0.0.1:PORT
	CAFile string // the CA certificate: it issues every certificate
	PID    int
	Dir    string
	DB     *DB
}

// Issued is one certificate a CA issued.
type Issued struct {
	Serial string // decimal, as both CAs store it
	DER    []byte
	Cert   *x509.Certificate
}

// StartCFSSL creates the certdb schema in db from cfssl's own migrations, starts cfssl serve and
// stops it when t ends. It skips t unless CERTGAL_SOURCES=1.
func StartCFSSL(t testing.TB, db *DB) *CFSSL {
	t.Helper()
	RequireSources(t)
	dir := t.TempDir()
	t.Cleanup(func() { stopScript(t, "cfssl", dir) })
	script(t, buildTimeout, []string{"CFSSL_DB_DSN=" + db.WriterDSN, "CFSSL_OWNER_PID=" + strconv.Itoa(os.Getpid())},
		"cfssl", "start.sh", dir)
	vars := readEnv(t, filepath.Join(dir, "env"))
	need(t, vars, "CFSSL_URL", "CFSSL_CA", "CFSSL_PID")
	pid, _ := strconv.Atoi(vars["CFSSL_PID"])
	return &CFSSL{URL: vars["CFSSL_URL"], CAFile: vars["CFSSL_CA"], PID: pid, Dir: dir, DB: db}
}

// Issue has CFSSL issue an S/MIME certificate for email (POST /api/v1/cfssl/newcert).
func (c *CFSSL) Issue(t testing.TB, email string) Issued {
	t.Helper()
	serial := strings.TrimSpace(script(t, time.Minute, nil, "cfssl", "ca.sh", "issue", c.Dir, email))
	return readIssued(t, serial, filepath.Join(c.Dir, "issued", serial+".pem"))
}

// Revoke revokes serial (decimal) with reason keyCompromise (POST /api/v1/cfssl/revoke).
func (c *CFSSL) Revoke(t testing.TB, serial string) {
	t.Helper()
	script(t, time.Minute, nil, "cfssl", "ca.sh", "revoke", c.Dir, serial)
}

func readIssued(t testing.TB, serial, path string) Issued {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("servertest: %s: no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("servertest: %s: %v", path, err)
	}
	if c.SerialNumber.String() != serial {
		t.Fatalf("servertest: %s holds serial %s, want %s", path, c.SerialNumber, serial)
	}
	return Issued{Serial: serial, DER: c.Raw, Cert: c}
}
