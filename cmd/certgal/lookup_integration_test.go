package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/certsource"
	"github.com/certgal/certgal/certsource/catest"
	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/lookup"
	"github.com/certgal/certgal/sync"
)

// TestLookupEndToEnd is what a sender with curl and openssl does: a real pass against slapd
// and an `openssl ca` CA publishes, the lookup serves the pass's index over HTTP, the sender
// fetches a colleague's certificate and encrypts to it, and the colleague's key (from the
// test CA) decrypts. After a renewal the new key is served and the old one is gone.
func TestLookupEndToEnd(t *testing.T) {
	w := newWorld(t)
	w.user("alice", "alice@corp.example", "Alice.Smith@Corp.Example")
	w.user("bob", "bob@corp.example")
	w.user("carol", "carol@corp.example") // in the directory, without a certificate
	// notBefore to the second decides which certificate is the newest: keep them apart.
	now := time.Now()
	alice := w.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-48*time.Hour), now.Add(300*24*time.Hour)))
	bob := w.ca.Issue(t, "bob@corp.example", catest.WithKey("rsa"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := logrus.New()
	log.SetOutput(io.Discard)
	cfg, ok := loadConfig(w.writeConfig(), os.Stderr)
	if !ok {
		t.Fatal("configuration")
	}
	p, err := newPipeline(ctx, cfg, log, sync.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := lookup.NewServer(config.Lookup{RatePerSecond: 100, Burst: 100}, prometheus.NewRegistry(), log)
	// pass runs a pass and publishes it; the index is swapped only when what is published changed.
	pass := func(changed bool) {
		t.Helper()
		res, err := p.syncer.Pass(ctx, false)
		if err != nil || res.Status != sync.ResultSuccess {
			t.Fatalf("pass: %v, %v", res.Status, err)
		}
		srvIndexBefore := srv.Current()
		publishLookup(srv, res, t.TempDir(), log)
		if swapped := srv.Current() != srvIndexBefore; swapped != changed {
			t.Fatalf("index swapped: %v, want %v", swapped, changed)
		}
	}
	pass(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("lookup server: %v", err)
		}
	}()
	base := "http://" + ln.Addr().String()
	dir := t.TempDir()
	s := sender{t: t, dir: dir}

	// Alice by her address in any ASCII case, as PEM; not by her second address, which her
	// certificate does not carry (a client checking the recipient would refuse it). Bob (RSA)
	// as DER converted by openssl.
	s.fetch(base+"/certs/alice.smith@corp.example?format=pem", 404)
	alicePEM := s.fetch(base+"/certs/Alice@Corp.example?format=pem", 200)
	if blk, _ := pem.Decode(alicePEM); blk == nil || !bytes.Equal(blk.Bytes, alice.DER) {
		t.Fatal("the PEM served for Alice is not her certificate")
	}
	aliceFile := s.write("alice.pem", alicePEM)
	bobDER := s.fetch(base+"/certs/Bob@corp.example", 200)
	if !bytes.Equal(bobDER, bob.DER) {
		t.Fatal("the DER served for Bob is not his certificate")
	}
	bobFile := filepath.Join(dir, "bob.pem")
	s.openssl("x509", "-inform", "DER", "-in", s.write("bob.cer", bobDER), "-out", bobFile)

	secret := []byte("The merger closes on Friday.\n")
	s.encryptDecrypt(secret, aliceFile, alice.KeyFile, "")
	s.encryptDecrypt(secret, bobFile, bob.KeyFile, "")

	// RFC 4387 finds her too.
	if got := s.fetch(base+"/search.cgi?email=alice@corp.example", 200); !bytes.Equal(got, alice.DER) {
		t.Error("search.cgi does not serve Alice's certificate")
	}

	// Carol (a user without a certificate) and an address nobody has look the same.
	carol := s.fetchRaw(base + "/certs/carol@corp.example")
	nobody := s.fetchRaw(base + "/certs/nobody@corp.example")
	if carol != nobody || !strings.HasPrefix(carol, "HTTP/1.1 404") {
		t.Errorf("a user without a certificate and an unknown address answer differently:\n%s\n---\n%s", carol, nobody)
	}
	// A 404 is asked again each time, so a new hire's key is found as soon as it is published;
	// a certificate may be kept for a minute.
	if !strings.Contains(carol, "Cache-Control: no-cache\r\n") {
		t.Errorf("a 404 may be cached:\n%s", carol)
	}
	if a := s.fetchRaw(base + "/certs/alice@corp.example"); !strings.Contains(a, "Cache-Control: public, max-age=60\r\n") {
		t.Errorf("a certificate's Cache-Control:\n%.300s", a)
	}

	// Alice renews with a new key: after the next pass the new certificate is served and a
	// message to the old key cannot be read with the new one.
	renewed := w.ca.Issue(t, "alice@corp.example", catest.WithValidity(now.Add(-time.Hour), now.Add(365*24*time.Hour)))
	pass(true)
	newPEM := s.fetch(base+"/certs/alice@corp.example?format=pem", 200)
	if blk, _ := pem.Decode(newPEM); blk == nil || !bytes.Equal(blk.Bytes, renewed.DER) {
		t.Fatal("after the renewal the old certificate is still served")
	}
	s.encryptDecrypt(secret, s.write("alice-new.pem", newPEM), renewed.KeyFile, alice.KeyFile)
	if st := srv.Current().Stats(); st.Reused != 1 || st.Certificates != 2 {
		t.Errorf("second index %+v: Bob's prepared certificate should be reused", st)
	}

	// A pass that publishes the same certificates keeps the index it serves.
	pass(false)
	if got := s.fetch(base+"/certs/alice@corp.example", 200); !bytes.Equal(got, renewed.DER) {
		t.Error("after a pass with nothing new, Alice's renewed certificate is not served")
	}
}

// sender does what a sender with curl and openssl does, in dir.
type sender struct {
	t   *testing.T
	dir string
}

// encryptDecrypt encrypts msg to the certificate in certFile with `openssl cms`, decrypts
// it with keyFile and compares; a wrongKey, when given, must fail to decrypt.
func (s sender) encryptDecrypt(msg []byte, certFile, keyFile, wrongKey string) {
	t, dir := s.t, s.dir
	t.Helper()
	in := s.write("msg.txt", msg)
	enc := filepath.Join(dir, "msg.p7m")
	s.openssl("cms", "-encrypt", "-aes256", "-in", in, "-out", enc, certFile)
	dec := filepath.Join(dir, "msg.out")
	s.openssl("cms", "-decrypt", "-in", enc, "-recip", certFile, "-inkey", keyFile, "-out", dec)
	got, err := os.ReadFile(dec)
	if err != nil || !bytes.Equal(bytes.ReplaceAll(got, []byte("\r\n"), []byte("\n")), msg) {
		t.Errorf("decrypted %q, want %q (%v)", got, msg, err)
	}
	if wrongKey != "" {
		cmd := exec.Command("openssl", "cms", "-decrypt", "-in", enc, "-inkey", wrongKey, "-out", filepath.Join(dir, "wrong.out"))
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("the old key decrypts a message to the new certificate:\n%s", out)
		}
	}
}

func (s sender) openssl(args ...string) {
	t := s.t
	t.Helper()
	if out, err := exec.Command("openssl", args...).CombinedOutput(); err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func (s sender) write(name string, b []byte) string {
	t := s.t
	t.Helper()
	path := filepath.Join(s.dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s sender) fetch(url string, code int) []byte {
	t := s.t
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != code {
		t.Fatalf("GET %s: %d %v, want %d\n%s", url, resp.StatusCode, err, code, b)
	}
	return b
}

// fetchRaw is the whole response as on the wire, less the Date header.
func (s sender) fetchRaw(url string) string {
	t := s.t
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	resp.Header.Del("Date")
	var b bytes.Buffer
	if err := resp.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLookupEntries(t *testing.T) {
	ca := catest.New(t, "Corp S/MIME CA")
	held := ca.Issue(t, "alice@corp.example")
	a, b := []byte("a"), []byte("b")
	// A Cert of the CA's published with the hash of der, which the store gives for it: each
	// with a serial of its own, which a log line names.
	cert := func(der []byte) *sync.Cert {
		x, err := x509.ParseCertificate(ca.Issue(t, "x@corp.example").DER)
		if err != nil {
			t.Fatal(err)
		}
		c := sync.Classify(x, certsource.NewTrust(nil))
		c.Hash = sha256.Sum256(der)
		return c
	}
	missing := cert([]byte("c"))
	// The index being served has held's certificate; the CA store has a and b, not c.
	index := lookup.NewIndex([]lookup.Entry{{Addresses: []string{"alice@corp.example"}, DER: [][]byte{held.DER}}})
	store := map[[32]byte][]byte{sha256.Sum256(a): a, sha256.Sum256(b): b}
	asked := 0
	der := func(c *sync.Cert) ([]byte, error) {
		asked++
		if v, ok := store[c.Hash]; ok {
			return v, nil
		}
		return nil, errors.New("not in the store")
	}
	log, hook := test.NewNullLogger()
	got := lookupEntries([]sync.Published{
		{Addresses: []string{"alice@corp.example", "a.smith@corp.example"}, Certs: []*sync.Cert{cert(held.DER), missing, cert(b)}},
		{Addresses: []string{"carol@corp.example"}},            // nothing to publish
		{Addresses: nil, Certs: []*sync.Cert{cert(a)}},         // no address of its own
		{Addresses: []string{"dave@corp.example"}, Certs: nil}, // nothing either
	}, der, log)
	if got.Len() != 1 || len(got.Addresses(0)) != 2 || got.NumCerts(0) != 3 ||
		got.Sum(0, 0) != sha256.Sum256(held.DER) || got.Sum(0, 2) != sha256.Sum256(b) {
		t.Fatalf("lookupEntries = %+v", got)
	}
	if asked != 0 {
		t.Errorf("the store was asked %d times before the index was built", asked)
	}
	// held's certificate is the index's already; c, which nobody has, is logged; b, which is
	// no certificate, is left out by the index.
	next := index.RebuildFrom(got, lookup.Options{Log: log})
	if asked != 2 {
		t.Errorf("the store was asked %d times, want 2 (c and b)", asked)
	}
	if st := next.Stats(); st.Reused != 1 || st.Certificates != 1 || st.Unparseable != 1 {
		t.Errorf("index stats %+v, want held's certificate reused and b unparseable", st)
	}
	if e := hook.LastEntry(); e == nil || e.Data["serial"] != missing.SerialHex() {
		t.Errorf("a certificate nobody has was not logged: %v", hook.AllEntries())
	}
}
