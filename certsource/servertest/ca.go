package servertest

import (
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgal/certgal/internal/testserver"
)

// step-ca and CFSSL are driven alike: testdata/<sub>/start.sh DIR starts the CA and writes
// DIR/env; testdata/<sub>/ca.sh issue|revoke DIR … asks it through its API, leaving an issued
// certificate in DIR/issued/<decimal serial><ext>.

// Issued is one certificate a CA issued.
type Issued struct {
	Serial string // decimal, as both CAs store it
	DER    []byte
	Cert   *x509.Certificate
}

// startCA starts the CA of testdata/<sub> with env added to this process's environment, stops
// it when t ends, and returns its directory and its env file, which must set names. It skips t
// unless CERTGAL_SOURCES=1.
func startCA(t testing.TB, sub string, env []string, names ...string) (dir string, vars map[string]string) {
	t.Helper()
	RequireSources(t)
	dir = t.TempDir()
	t.Cleanup(func() { testserver.StopScript(t, sub, dir) })
	testserver.Script(t, buildTimeout, env, sub, "start.sh", dir)
	return dir, testserver.ReadEnv(t, filepath.Join(dir, "env"), names...)
}

func issue(t testing.TB, sub, dir, email, ext string) Issued {
	t.Helper()
	serial := strings.TrimSpace(testserver.Script(t, time.Minute, nil, sub, "ca.sh", "issue", dir, email))
	return readIssued(t, serial, filepath.Join(dir, "issued", serial+ext))
}

func revoke(t testing.TB, sub, dir, serial string) {
	t.Helper()
	testserver.Script(t, time.Minute, nil, sub, "ca.sh", "revoke", dir, serial)
}

func readIssued(t testing.TB, serial, path string) Issued {
	t.Helper()
	c := testserver.ReadCertFile(t, path)
	if c.SerialNumber.String() != serial {
		t.Fatalf("servertest: %s holds serial %s, want %s", path, c.SerialNumber, serial)
	}
	return Issued{Serial: serial, DER: c.Raw, Cert: c}
}
