package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certgal/certgal/certsource/catest"
	"github.com/certgal/certgal/ldapgal/ldaptest"
)

// newEasyRSAWorld is a world whose CA store is a PKI of Debian's easy-rsa,
// configured as its administrator would: dir is the PKI, trust its ca.crt,
// and no CRL (easy-rsa's gen-crl writes one, but nothing makes an
// administrator configure it).
func newEasyRSAWorld(t *testing.T) (*world, *catest.EasyRSA) {
	t.Helper()
	pki := catest.NewEasyRSA(t, "Corp Easy-RSA CA")
	// writeConfig needs of a CA only its directory and certificate file.
	return &world{t: t, slapd: ldaptest.StartSlapd(t), ca: &catest.CA{Dir: pki.PKI, CertFile: pki.CertFile}}, pki
}

// easy-rsa 3.0.6 and later move a revoked certificate to
// revoked/certs_by_serial/SERIAL.crt: index.txt's R line alone says it is
// revoked, and the published value leaves.
func TestSyncEasyRSARevokeMovesTheCertificate(t *testing.T) {
	w, pki := newEasyRSAWorld(t)
	alice := w.user("alice", "alice@corp.example")
	bob := w.user("bob", "bob@corp.example")
	a := pki.Issue(t, "alice", "alice@corp.example")
	b := pki.Issue(t, "bob", "bob@corp.example")

	mods, out := w.mustSync()
	if mods != 2 {
		t.Errorf("first pass: %d modify operations, want 2\n%s", mods, out)
	}
	w.assertCerts(alice, a.DER)
	w.assertCerts(bob, b.DER)

	pki.Revoke(t, "alice", "keyCompromise")
	pki.GenCRL(t) // as easy-rsa tells the administrator to; certgal is not configured with it
	mods, out = w.mustSync()
	w.assertCerts(alice)
	w.assertCerts(bob, b.DER)
	removed := regexp.MustCompile(`(?m)^remove\s+` + regexp.QuoteMeta(alice) + `\s.*serial=` + strings.TrimLeft(a.Serial, "0") + `\s.*reason=revoked`)
	if mods != 1 || !removed.MatchString(out) {
		t.Errorf("after revoke: %d modify operations (want 1), plan:\n%s", mods, out)
	}
	if strings.Contains(out, "unknown_to_source") {
		t.Errorf("the revoked value is reported unknown to the source:\n%s", out)
	}

	// A third pass finds nothing to do, and does not bring the key back.
	mods, out = w.mustSync()
	if mods != 0 {
		t.Errorf("third pass: %d modify operations, want 0\n%s", mods, out)
	}
	w.assertCerts(alice)
}

// The R line alone revokes: with the moved certificate gone too (revoked/
// cleaned up), the value leaves as revoked by pki/ca.crt's CA.
func TestSyncEasyRSARevokedCertificateFileGone(t *testing.T) {
	w, pki := newEasyRSAWorld(t)
	alice := w.user("alice", "alice@corp.example")
	bob := w.user("bob", "bob@corp.example")
	a := pki.Issue(t, "alice", "alice@corp.example")
	// A store of no certificate at all makes sync write nothing (it looks
	// like a broken read): bob's keeps it from being empty.
	b := pki.Issue(t, "bob", "bob@corp.example")
	w.mustSync()
	w.assertCerts(alice, a.DER)

	pki.Revoke(t, "alice", "keyCompromise")
	if err := os.Remove(filepath.Join(pki.PKI, "revoked", "certs_by_serial", a.Serial+".crt")); err != nil {
		t.Fatal(err)
	}
	mods, out := w.mustSync()
	w.assertCerts(alice)
	w.assertCerts(bob, b.DER)
	if mods != 1 || !strings.Contains(out, "reason=revoked") {
		t.Errorf("after revoke: %d modify operations (want 1), plan:\n%s", mods, out)
	}
}

// A daemon's passes read an unchanged store quickly (certsource's quick
// read): an easy-rsa revoke, which moves files between directories, is
// noticed by the next pass, and the lookup stops serving the key.
func TestDaemonEasyRSARevoke(t *testing.T) {
	bin := buildCertgal(t)
	w, pki := newEasyRSAWorld(t)
	alice := w.user("alice", "alice@corp.example")
	w.user("bob", "bob@corp.example")
	a := pki.Issue(t, "alice", "alice@corp.example")
	pki.Issue(t, "bob", "bob@corp.example")
	addr := freePort(t)
	base := "http://" + addr
	w.head = "schedule: \"@every 1s\"\n"
	w.metricsListen = addr
	w.lookupListen = freePort(t)
	d := startDaemon(t, bin, w.writeConfig())
	lookup := func() int { return httpStatus("GET", "http://"+w.lookupListen+"/certs/alice@corp.example") }
	eventually(t, 30*time.Second, "alice's certificate published and served", func() bool {
		return len(w.slapd.Certs(t, alice)) == 1 && lookup() == 200
	})
	w.assertCerts(alice, a.DER)
	success := `certgal_sync_passes_total{result="success"}`
	passes := metric(t, base, success)
	eventually(t, 10*time.Second, "two more passes over the unchanged store", func() bool { return metric(t, base, success) >= passes+2 })

	pki.Revoke(t, "alice", "keyCompromise")
	eventually(t, 15*time.Second, "alice's revoked certificate removed and no longer served", func() bool {
		return len(w.slapd.Certs(t, alice)) == 0 && lookup() == 404
	})
	if log := d.logText(); !strings.Contains(log, "revoked") {
		t.Errorf("the removal's reason is not logged:\n%s", log)
	}

	// Her new key, signed by easy-rsa while the daemon runs: the pass that meets a file it
	// had not read reads the store before the users, and publishes and serves it.
	a2 := pki.Issue(t, "alice-2", "alice@corp.example")
	served := func() []byte {
		resp, err := http.Get("http://" + w.lookupListen + "/certs/alice@corp.example")
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return nil
		}
		return body
	}
	eventually(t, 15*time.Second, "alice's new certificate published and served", func() bool {
		return len(w.slapd.Certs(t, alice)) == 1 && bytes.Equal(served(), a2.DER)
	})
	w.assertCerts(alice, a2.DER)
}
