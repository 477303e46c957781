package catest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgal/certgal/internal/testserver"
)

// EasyRSA is a PKI made by Debian's easy-rsa (package easy-rsa), run as an
// administrator runs it: init-pki, build-ca, gen-req, sign-req, revoke,
// gen-crl. Its layout (issued/NAME.crt, certs_by_serial/, revoked/, private/
// holding every key) is easy-rsa's own, not an imitation.
type EasyRSA struct {
	PKI      string // EASYRSA_PKI: the directory certgal is configured with
	CertFile string // PKI/ca.crt

	bin string
}

// easyRSAScripts are where easy-rsa's script may be: Debian's package does not
// put it on PATH.
var easyRSAScripts = []string{"/usr/share/easy-rsa/easyrsa"}

// NewEasyRSA creates a PKI with a CA named name (its subject CN) in
// t.TempDir(). Without easy-rsa the test skips, or fails under CI=true
// (testdata/install-deps.sh installs it).
func NewEasyRSA(t testing.TB, name string) *EasyRSA {
	t.Helper()
	bin := ""
	for _, p := range easyRSAScripts {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			bin = p
			break
		}
	}
	if bin == "" {
		if p, err := exec.LookPath("easyrsa"); err == nil {
			bin = p
		}
	}
	if bin == "" {
		testserver.Unavailable(t, "catest: easy-rsa is not installed (Debian package easy-rsa; testdata/install-deps.sh)")
	}
	e := &EasyRSA{PKI: filepath.Join(t.TempDir(), "pki"), bin: bin}
	e.CertFile = filepath.Join(e.PKI, "ca.crt")
	e.run(t, nil, "init-pki")
	e.run(t, []string{"EASYRSA_REQ_CN=" + name}, "build-ca", "nopass")
	return e
}

// Issue makes a key and request named name (easy-rsa's file name base, also
// the subject CN) and signs it with easy-rsa's `email` type, whose
// certificates have EKU emailProtection and keyUsage keyEncipherment on
// easy-rsa's default RSA key, with email in the SAN rfc822Name. Serial is
// written as in index.txt and easy-rsa's file names (upper-case hex, whole
// bytes: it may start with a 0); CertFile is PKI/issued/NAME.crt, KeyFile
// PKI/private/NAME.key.
func (e *EasyRSA) Issue(t testing.TB, name, email string) Issued {
	t.Helper()
	e.run(t, []string{"EASYRSA_REQ_CN=" + name}, "gen-req", name, "nopass")
	e.run(t, nil, "--subject-alt-name=email:"+email, "sign-req", "email", name)
	is := Issued{
		CertFile: filepath.Join(e.PKI, "issued", name+".crt"),
		KeyFile:  filepath.Join(e.PKI, "private", name+".key"),
	}
	c := testserver.ReadCertFile(t, is.CertFile)
	is.DER = c.Raw
	is.Serial = fmt.Sprintf("%X", c.SerialNumber.Bytes()) // as openssl prints it: whole bytes
	return is
}

// Revoke revokes the certificate named name; reason is one easy-rsa takes
// (keyCompromise, superseded, ...) or "" for none. easy-rsa 3.0.6 and later
// then move the certificate, its key and its request under revoked/.
func (e *EasyRSA) Revoke(t testing.TB, name, reason string) {
	t.Helper()
	args := []string{"revoke", name}
	if reason != "" {
		args = append(args, reason)
	}
	e.run(t, nil, args...)
}

// GenCRL writes PKI/crl.pem and returns its path.
func (e *EasyRSA) GenCRL(t testing.TB) string {
	t.Helper()
	e.run(t, nil, "gen-crl")
	return filepath.Join(e.PKI, "crl.pem")
}

func (e *EasyRSA) run(t testing.TB, env []string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // RSA keys
	defer cancel()
	// Batch mode asks nothing; the PKI is the test's own.
	env = append(os.Environ(), append([]string{"EASYRSA_PKI=" + e.PKI, "EASYRSA_BATCH=1"}, env...)...)
	if stdout, stderr, err := testserver.Run(ctx, env, filepath.Dir(e.PKI), e.bin, args...); err != nil {
		t.Fatalf("catest: easyrsa %s: %v\n%s%s", strings.Join(args, " "), err, stdout, stderr)
	}
}
