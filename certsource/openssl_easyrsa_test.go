package certsource

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/certsource/catest"
	"github.com/certgal/certgal/config"
)

func newEasyRSASource(t *testing.T, pki *catest.EasyRSA) (*OpenSSL, *test.Hook) {
	t.Helper()
	trust, err := LoadTrust([]string{pki.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	log, hook := test.NewNullLogger()
	return NewOpenSSL(config.OpenSSL{Dir: pki.PKI}, trust, log), hook
}

// byOrigin is the snapshot's certificate read from path, nil for none.
func byOrigin(snap *Snapshot, path string) *Certificate {
	for _, c := range snap.Certificates {
		if c.Origin() == path {
			return c
		}
	}
	return nil
}

// revocationOf is the snapshot's revocation of serial (SerialHex), nil for none.
func revocationOf(snap *Snapshot, serial string) *Revocation {
	for i, r := range snap.Revocations {
		if SerialHex(r.Serial) == serial {
			return &snap.Revocations[i]
		}
	}
	return nil
}

// Debian's easy-rsa 3.1 moves a revoked certificate to
// revoked/certs_by_serial/SERIAL.crt: the source finds it there, revoked, on
// the read right after the revoke (which a quick read must not mistake for
// an unchanged store), with either reader.
func TestOpenSSLEasyRSARevokeMovesTheCertificate(t *testing.T) {
	for _, unparsed := range []bool{false, true} {
		name := map[bool]string{false: "Read", true: "ReadUnparsed"}[unparsed]
		t.Run(name, func(t *testing.T) {
			pki := catest.NewEasyRSA(t, "Corp Easy-RSA CA")
			a := pki.Issue(t, "alice", "alice@corp.example")
			b := pki.Issue(t, "bob", "bob@corp.example")
			src, hook := newEasyRSASource(t, pki)
			read := func() *Snapshot {
				t.Helper()
				if unparsed {
					return readUnparsed(t, src)
				}
				snap, err := src.Read(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				return snap
			}
			snap := read()
			if len(snap.Certificates) != 2 || len(snap.Problems) != 0 {
				t.Fatalf("before revoke: %d certificates, problems %v", len(snap.Certificates), snap.Problems)
			}
			read() // a quick read: it must not stand in for the read after the revoke

			pki.Revoke(t, "alice", "keyCompromise")
			pki.GenCRL(t)
			snap = read()
			moved := filepath.Join(pki.PKI, "revoked", "certs_by_serial", a.Serial+".crt")
			if c := byOrigin(snap, moved); c == nil || c.Status != StatusRevoked || revokedOf(c).Reason != "keyCompromise" || revokedOf(c).At.IsZero() {
				t.Errorf("revoked certificate at %s: %+v (all: %v)", moved, c, describe(t, snap))
			}
			if c := byOrigin(snap, filepath.Join(pki.PKI, "certs_by_serial", b.Serial+".pem")); c == nil || c.Status != StatusValid {
				t.Errorf("bob's certificate: %+v", c)
			}
			if len(snap.Certificates) != 2 || len(snap.Problems) != 0 || len(hook.Entries) != 0 {
				t.Errorf("after revoke: %d certificates, problems %v, log %d lines", len(snap.Certificates), snap.Problems, len(hook.Entries))
			}
			for _, c := range snap.Certificates {
				if strings.Contains(c.Origin(), "private") || strings.Contains(c.Origin(), "reqs") {
					t.Errorf("read %s", c.Origin())
				}
			}
		})
	}
}

// An R line revokes its serial when the certificate file is gone (an
// administrator cleaned up revoked/, say): the revocation is
// the directory's CA's, found by pki/ca.crt. Putting the file back where
// easy-rsa moves it, with index.txt unchanged, is seen by the next read.
func TestOpenSSLRevokedLineWithoutItsFile(t *testing.T) {
	pki := catest.NewEasyRSA(t, "Corp Easy-RSA CA")
	a := pki.Issue(t, "alice", "alice@corp.example")
	pki.Issue(t, "bob", "bob@corp.example")
	pki.Revoke(t, "alice", "keyCompromise")
	moved := filepath.Join(pki.PKI, "revoked", "certs_by_serial", a.Serial+".crt")
	saved := mustRead(t, moved)
	if err := os.Remove(moved); err != nil {
		t.Fatal(err)
	}
	src, hook := newEasyRSASource(t, pki)
	caCert, err := LoadTrust([]string{pki.CertFile})
	if err != nil {
		t.Fatal(err)
	}
	wantIssuer := caCert.ids[0]

	snap := readUnparsed(t, src)
	r := revocationOf(snap, canonicalSerial(a.Serial))
	if r == nil || r.Issuer != wantIssuer || r.Reason != "keyCompromise" || r.RevokedAt.IsZero() {
		t.Errorf("revocation of %s: %+v (all: %+v)", a.Serial, r, snap.Revocations)
	}
	if len(snap.Revocations) != 1 || len(snap.Certificates) != 1 || len(snap.Problems) != 0 || len(hook.Entries) != 0 {
		t.Errorf("%d revocations, %d certificates, problems %v, log %d lines", len(snap.Revocations), len(snap.Certificates), snap.Problems, len(hook.Entries))
	}
	// A quick read gives the same.
	if snap := readUnparsed(t, src); revocationOf(snap, canonicalSerial(a.Serial)) == nil || len(snap.Certificates) != 1 {
		t.Errorf("quick read: revocations %+v, %d certificates", snap.Revocations, len(snap.Certificates))
	}

	time.Sleep(20 * time.Millisecond) // directory times tick coarsely (a few ms)
	if err := os.WriteFile(moved, saved, 0o600); err != nil {
		t.Fatal(err)
	}
	snap = readUnparsed(t, src)
	if c := byOrigin(snap, moved); c == nil || c.Status != StatusRevoked {
		t.Errorf("file put back in revoked/certs_by_serial/: %+v (all: %v)", c, describe(t, snap))
	}
}

// The CA of index.txt's R lines, whose files are gone: its own certificate
// if trusted, else the one trusted CA its certificates verify to, else, when
// nothing in the directory names a CA, the only trusted CA; never a guess
// between two.
func TestOpenSSLRevocationIssuer(t *testing.T) {
	mine := catest.New(t, "Corp S/MIME CA")
	other := catest.New(t, "Other CA")
	theirs := other.Issue(t, "x@other.example")

	// dir is a CA directory of mine with one certificate revoked and its
	// file removed, and another valid (its file kept unless noCerts).
	type setup struct {
		trust       []*catest.CA
		caFiles     map[string]*catest.CA // CA certificate files to write, by name; "" removes ca.pem
		noCerts     bool                  // remove every certificate file
		foreignCert bool                  // add other's certificate to the index and newcerts/
		cnf         string                // the certificate line of openssl.cnf, when not ""
	}
	tests := []struct {
		name string
		setup
		want *catest.CA // nil: revocation_issuer_unknown
	}{
		// With no certificate left to verify, only the CA's own certificate tells.
		{"own certificate trusted", setup{trust: []*catest.CA{other, mine}, noCerts: true}, mine},
		{"own certificate by openssl.cnf", setup{trust: []*catest.CA{other, mine},
			caFiles: map[string]*catest.CA{"ca.pem": nil, "cacerts/mine.pem": mine}, cnf: "$dir/cacerts/mine.pem  # moved", noCerts: true}, mine},
		{"easy-rsa ca.crt", setup{trust: []*catest.CA{other, mine}, caFiles: map[string]*catest.CA{"ca.pem": nil, "ca.crt": mine}, noCerts: true}, mine},
		{"certificates verify to one trusted CA", setup{trust: []*catest.CA{other, mine}, caFiles: map[string]*catest.CA{"ca.pem": nil}}, mine},
		{"nothing names a CA, one trusted", setup{trust: []*catest.CA{mine}, caFiles: map[string]*catest.CA{"ca.pem": nil}, noCerts: true}, mine},
		{"nothing names a CA, two trusted", setup{trust: []*catest.CA{other, mine}, caFiles: map[string]*catest.CA{"ca.pem": nil}, noCerts: true}, nil},
		{"CA certificate files of two trusted CAs", setup{trust: []*catest.CA{other, mine}, caFiles: map[string]*catest.CA{"cacert.pem": other}}, nil},
		{"own certificate not trusted, one trusted", setup{trust: []*catest.CA{other}, noCerts: true}, nil},
		{"certificates of two trusted CAs", setup{trust: []*catest.CA{other, mine}, caFiles: map[string]*catest.CA{"ca.pem": nil}, foreignCert: true}, nil},
		{"certificates of no trusted CA, one trusted", setup{trust: []*catest.CA{other}, caFiles: map[string]*catest.CA{"ca.pem": nil}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ca := catest.New(t, "Corp S/MIME CA")
			// The directory is mine's: its key and certificate.
			copyCA(t, mine, ca)
			kept := ca.Issue(t, "alice@corp.example")
			gone := ca.Issue(t, "bob@corp.example")
			ca.Revoke(t, gone.Serial, "keyCompromise")
			remove(t, gone.CertFile)
			if tt.noCerts {
				remove(t, kept.CertFile)
			}
			for name, c := range tt.caFiles {
				p := filepath.Join(ca.Dir, name)
				if c == nil {
					remove(t, p)
					continue
				}
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, mustRead(t, c.CertFile), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.cnf != "" {
				cnf := filepath.Join(ca.Dir, "openssl.cnf")
				data := strings.Replace(string(mustRead(t, cnf)), "certificate = $dir/ca.pem", "certificate = "+tt.cnf, 1)
				if !strings.Contains(data, tt.cnf) {
					t.Fatalf("no certificate line in %s", cnf)
				}
				os.WriteFile(cnf, []byte(data), 0o644)
			}
			if tt.foreignCert {
				line := "V\t491231235959Z\t\t" + theirs.Serial + "\tunknown\t/CN=x\n"
				f, _ := os.OpenFile(filepath.Join(ca.Dir, "index.txt"), os.O_APPEND|os.O_WRONLY, 0)
				f.WriteString(line)
				f.Close()
				os.WriteFile(filepath.Join(ca.Dir, "newcerts", theirs.Serial+".pem"), mustRead(t, theirs.CertFile), 0o644)
			}
			var files []string
			for _, c := range tt.trust {
				files = append(files, c.CertFile)
			}
			trust, err := LoadTrust(files)
			if err != nil {
				t.Fatal(err)
			}
			// Read has the certificates parsed; ReadUnparsed's source reads them again.
			for _, unparsed := range []bool{false, true} {
				log, _ := test.NewNullLogger()
				src := NewOpenSSL(config.OpenSSL{Dir: ca.Dir}, trust, log)
				var snap *Snapshot
				if unparsed {
					snap = readUnparsed(t, src)
				} else if snap, err = src.Read(context.Background()); err != nil {
					t.Fatal(err)
				}
				r := revocationOf(snap, canonicalSerial(gone.Serial))
				if tt.want == nil {
					if r != nil || snap.Problems["revocation_issuer_unknown"] != 1 {
						t.Errorf("unparsed %v: revocation %+v, problems %v; want none and revocation_issuer_unknown", unparsed, r, snap.Problems)
					}
					continue
				}
				want, _ := trust.id(tt.want.Cert)
				if r == nil || r.Issuer != want || snap.Problems["revocation_issuer_unknown"] != 0 {
					t.Errorf("unparsed %v: revocation %+v, problems %v; want one by %s", unparsed, r, snap.Problems, tt.want.Cert.Subject)
				}
			}
		})
	}
}

// copyCA makes dst's directory sign as src: its certificate and key.
func copyCA(t *testing.T, src, dst *catest.CA) {
	t.Helper()
	for _, f := range []string{"ca.pem", filepath.Join("private", "ca.key")} {
		if err := os.WriteFile(filepath.Join(dst.Dir, f), mustRead(t, filepath.Join(src.Dir, f)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func remove(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// inside refuses every place easy-rsa keeps a key or a request, and a key
// file wherever it lies.
func TestOpenSSLInsideRefusesKeys(t *testing.T) {
	src := NewOpenSSL(config.OpenSSL{Dir: "/ca"}, NewTrust(nil), nil)
	for _, tt := range []struct {
		rel string
		ok  bool
	}{
		{"newcerts/01.pem", true},
		{"revoked/certs_by_serial/0A.crt", true},
		{"renewed/issued/alice.crt", true},
		{"ca.crt", true},
		{"private/ca.key", false},
		{"private", false},
		{"/ca/private/alice.key", false},
		{"revoked/private_by_serial/0A.key", false},
		{"revoked/reqs_by_serial/0A.req", false},
		{"renewed/private/alice.key", false},
		{"revoked/certs_by_serial/0A.p12", false},
		{"issued/alice.p8", false},
		{"newcerts/../private/ca.key", false},
		{"../ca.pem", false},
	} {
		if _, ok := src.inside(tt.rel); ok != tt.ok {
			t.Errorf("inside(%q) = %v, want %v", tt.rel, ok, tt.ok)
		}
	}
}

// FuzzParseCnfCertificates: any openssl.cnf gives paths without variables,
// each of a certificate line, and never panics.
func FuzzParseCnfCertificates(f *testing.F) {
	f.Add([]byte("[ CA_default ]\ndir = /ca\ncertificate = $dir/ca.pem # the CA\n"))
	f.Add([]byte("certificate=\"${dir}/cacert.pem\"\ncertificate = $ENV::X/ca.pem\n"))
	f.Add([]byte("certificate = /etc/ssl/ca.pem\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range parseCnfCertificates(data) {
			if p == "" || strings.Contains(p, "$") || strings.Contains(p, "\n") {
				t.Errorf("path %q", p)
			}
		}
	})
}

// TestOpenSSLQuickReadReportsWhatAFullReadDoes: in a PKI of Debian's
// easy-rsa, a certificate whose certs_by_serial/ copy is gone is found in
// issued/, and a file there that does not read is reported by the full read
// and by every quick read after it, as each file problem is: the skip metric
// must not depend on which kind of read a pass got.
func TestOpenSSLQuickReadReportsWhatAFullReadDoes(t *testing.T) {
	pki := catest.NewEasyRSA(t, "Corp Easy-RSA CA")
	pki.Issue(t, "alice", "alice@corp.example")
	bob := pki.Issue(t, "bob", "bob@corp.example")
	if err := os.Remove(filepath.Join(pki.PKI, "certs_by_serial", bob.Serial+".pem")); err != nil {
		t.Fatal(err)
	}
	// A copy cut short, say by a full disk.
	if err := os.WriteFile(filepath.Join(pki.PKI, "issued", "carol.crt"), mustRead(t, bob.CertFile)[:100], 0o644); err != nil {
		t.Fatal(err)
	}
	src, _ := newEasyRSASource(t, pki)
	for _, read := range []string{"full", "quick"} {
		snap := readUnparsed(t, src)
		if snap.Problems["bad_certificate"] != 1 || len(snap.Certificates) != 2 {
			t.Errorf("%s read: problems %v, %d certificates; want bad_certificate=1 and 2", read, snap.Problems, len(snap.Certificates))
		}
	}
}
