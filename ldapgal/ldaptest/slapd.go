// Package ldaptest starts private OpenLDAP slapd instances for tests (testdata/slapd/start.sh)
// and seeds and inspects them: users, userCertificate;binary values and the number of modify
// operations the server completed.
//
// Every test gets its own slapd on random loopback ports in its own temporary directory; one
// starts in about 0.2 s. When slapd is not installed and cannot be installed, tests skip, or fail
// under CI=true.
package ldaptest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/certgal/certgal/internal/testserver"
)

// Slapd is a running private slapd. Its rootdn bypasses access control and size limits.
type Slapd struct {
	URL      string // ldap://127.0.0.1:PORT
	LDAPSURL string // ldaps://127.0.0.1:PORT, certificate signed by CAFile, IP SAN 127.0.0.1
	LDAPIURL string // ldapi://%2F...%2Fldapi; root gets write access with SASL EXTERNAL
	Suffix   string // dc=example,dc=com unless SUFFIX is set
	RootDN   string // cn=admin,<Suffix>
	RootPW   string // secret unless ROOTPW is set
	CAFile   string // PEM CA certificate that signed the server certificate
	Dir      string // start.sh's DIR: slapd.conf, slapd.log, db/, tls/
	PID      int    // slapd's own PID
}

// startTimeout covers a first run on a fresh machine, where start.sh apt-get installs slapd.
const startTimeout = 5 * time.Minute

// StartSlapd starts a slapd for t in t.TempDir() and stops it when t ends. The base entries
// <Suffix> and ou=people,<Suffix> exist. It must be called from the test's goroutine.
func StartSlapd(t testing.TB) *Slapd {
	t.Helper()
	dir := t.TempDir()
	// Registered before the start: start.sh may leave a slapd behind (a timeout, say), and
	// stop.sh only ever signals a slapd started from dir.
	t.Cleanup(func() { testserver.StopScript(t, "slapd", dir) })
	// Empty ports: start.sh picks free ones, whatever this process's environment says.
	env := []string{"LDAP_PORT=", "LDAPS_PORT=", "SLAPD_OWNER_PID=" + strconv.Itoa(os.Getpid())}
	stdout := testserver.Script(t, startTimeout, env, "slapd", "start.sh", dir)

	vars, err := testserver.ReadEnvFile(filepath.Join(dir, "env"))
	if err != nil {
		t.Fatalf("ldaptest: %v (start.sh printed %q)", err, stdout)
	}
	s, err := slapdFromEnv(vars)
	if err != nil {
		t.Fatalf("ldaptest: %s/env: %v", dir, err)
	}
	s.Dir = dir
	return s
}

func slapdFromEnv(vars map[string]string) (*Slapd, error) {
	s := &Slapd{
		URL:      vars["LDAP_URL"],
		LDAPSURL: vars["LDAPS_URL"],
		LDAPIURL: vars["LDAPI_URL"],
		Suffix:   vars["LDAP_SUFFIX"],
		RootDN:   vars["LDAP_ROOTDN"],
		RootPW:   vars["LDAP_ROOTPW"],
		CAFile:   vars["LDAP_CA_FILE"],
	}
	for name, v := range map[string]string{
		"LDAP_URL": s.URL, "LDAPS_URL": s.LDAPSURL, "LDAPI_URL": s.LDAPIURL,
		"LDAP_SUFFIX": s.Suffix, "LDAP_ROOTDN": s.RootDN, "LDAP_CA_FILE": s.CAFile,
	} {
		if v == "" {
			return nil, fmt.Errorf("%s is missing", name)
		}
	}
	pid, err := strconv.Atoi(vars["SLAPD_PID"])
	if err != nil || pid <= 0 {
		return nil, fmt.Errorf("SLAPD_PID %q is not a PID", vars["SLAPD_PID"])
	}
	s.PID = pid
	return s, nil
}
