// Package catest runs a throwaway OpenSSL CA for tests through testdata/ca/openssl-ca.sh, so
// that index.txt, newcerts/ and CRLs are exactly what `openssl ca` writes in production.
//
// When openssl is not installed and cannot be installed, tests skip, or fail under CI=true.
package catest

import (
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certgal/certgal/internal/testserver"
)

// CA is an OpenSSL CA directory: ca.pem, private/ca.key, index.txt, serial, crlnumber,
// newcerts/, openssl.cnf. Keys of issued certificates live in KeyDir, outside Dir.
type CA struct {
	Dir      string            // the CA directory, as certgal would be configured with it
	CertFile string            // Dir/ca.pem
	KeyDir   string            // where issued keys and CSRs go (Dir + ".keys")
	Cert     *x509.Certificate // the parsed CA certificate
}

// Issued is one certificate the CA issued.
type Issued struct {
	Serial   string // upper-case hex, as in index.txt and newcerts/<Serial>.pem
	DER      []byte
	KeyFile  string // PEM private key, in the CA's KeyDir
	CertFile string // Dir/newcerts/<Serial>.pem
}

// Option changes how Issue issues a certificate.
type Option func(*issueOptions)

type issueOptions struct {
	args []string
}

// WithExt picks the extension section: "smime" (the default), "server" (EKU serverAuth only),
// "signonly" (keyUsage digitalSignature only), "smartcard" (EKU clientAuth and smart-card
// logon) or "legacy" (the address in the subject's emailAddress, no SAN).
func WithExt(ext string) Option {
	return func(o *issueOptions) { o.args = append(o.args, "--ext", ext) }
}

// WithValidity sets notBefore and notAfter (to the second, UTC), e.g. in the past for an
// expired certificate or in the future for one not yet valid.
func WithValidity(start, end time.Time) Option {
	return func(o *issueOptions) {
		o.args = append(o.args, "--start", opensslTime(start), "--end", opensslTime(end))
	}
}

// WithKey picks the key type: "ec" (P-256, the default) or "rsa" (2048 bits).
func WithKey(kind string) Option {
	return func(o *issueOptions) { o.args = append(o.args, "--key", kind) }
}

func opensslTime(t time.Time) string {
	return t.UTC().Format("20060102150405Z")
}

// New creates a CA named name (its subject CN; "" for the default "certgal Test CA") in
// t.TempDir(). It must be called from the test's goroutine, as must the methods.
func New(t testing.TB, name string) *CA {
	t.Helper()
	root := t.TempDir()
	ca := &CA{
		Dir:    filepath.Join(root, "ca"),
		KeyDir: filepath.Join(root, "ca.keys"),
	}
	ca.CertFile = filepath.Join(ca.Dir, "ca.pem")
	args := []string{"init", ca.Dir}
	if name != "" {
		args = append(args, name)
	}
	ca.run(t, args...)
	ca.Cert = testserver.ReadCertFile(t, ca.CertFile)
	return ca
}

// Issue issues a certificate for email (in the SAN rfc822Name only; the subject CN is the
// local part) and returns it.
func (ca *CA) Issue(t testing.TB, email string, opts ...Option) Issued {
	t.Helper()
	var o issueOptions
	for _, opt := range opts {
		opt(&o)
	}
	out := ca.run(t, append([]string{"issue", ca.Dir, email}, o.args...)...)
	serial := strings.TrimSpace(out)
	if serial == "" {
		t.Fatalf("catest: issue %s: no serial printed", email)
	}
	is := Issued{
		Serial:   serial,
		KeyFile:  filepath.Join(ca.KeyDir, serial+".key"),
		CertFile: filepath.Join(ca.Dir, "newcerts", serial+".pem"),
	}
	is.DER = testserver.ReadCertFile(t, is.CertFile).Raw
	return is
}

// Revoke revokes the certificate with serial; reason is an openssl -crl_reason name
// (keyCompromise, superseded, ...) or "" for none.
func (ca *CA) Revoke(t testing.TB, serial, reason string) {
	t.Helper()
	args := []string{"revoke", ca.Dir, serial}
	if reason != "" {
		args = append(args, reason)
	}
	ca.run(t, args...)
}

// CRL writes a fresh CRL next to the CA directory (crl.pem, or crl.der when der is true),
// replacing the previous one atomically, and returns its path.
func (ca *CA) CRL(t testing.TB, der bool) string {
	t.Helper()
	return ca.crl(t, der)
}

// CRLWindow is CRL with the CRL's lastUpdate and nextUpdate set, as `openssl ca -gencrl
// -crl_lastupdate -crl_nextupdate` writes them: a nextUpdate in the past is a stale CRL.
func (ca *CA) CRLWindow(t testing.TB, der bool, lastUpdate, nextUpdate time.Time) string {
	t.Helper()
	return ca.crl(t, der, "--last", opensslTime(lastUpdate), "--next", opensslTime(nextUpdate))
}

func (ca *CA) crl(t testing.TB, der bool, opts ...string) string {
	t.Helper()
	path := filepath.Join(filepath.Dir(ca.Dir), "crl.pem")
	if der {
		path = filepath.Join(filepath.Dir(ca.Dir), "crl.der")
		opts = append(opts, "--der")
	}
	ca.run(t, append([]string{"crl", ca.Dir, path}, opts...)...)
	return path
}

// UpdateDB marks expired certificates E in index.txt (openssl ca -updatedb).
func (ca *CA) UpdateDB(t testing.TB) {
	t.Helper()
	ca.run(t, "updatedb", ca.Dir)
}

// run runs testdata/ca/openssl-ca.sh; without openssl (exit 3) t skips, or fails under CI=true.
func (ca *CA) run(t testing.TB, args ...string) string {
	t.Helper()
	// The timeout covers the script's apt-get install of openssl on a fresh machine.
	return testserver.Script(t, 5*time.Minute, []string{"KEYDIR=" + ca.KeyDir}, "ca", "openssl-ca.sh", args...)
}
