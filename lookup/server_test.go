package lookup

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/config"
)

func TestListenAndServeDisabled(t *testing.T) {
	log, _ := test.NewNullLogger()
	srv := NewServer(config.Lookup{Listen: "", RatePerSecond: 1, Burst: 1}, prometheus.NewRegistry(), log)
	if err := srv.ListenAndServe(context.Background()); err != nil {
		t.Errorf("disabled: %v", err)
	}
}

func TestServeTLSAndGracefulStop(t *testing.T) {
	certFile, keyFile := selfSigned(t)
	log, _ := test.NewNullLogger()
	srv := NewServer(config.Lookup{Listen: "127.0.0.1:0", TLSCertFile: certFile, TLSKeyFile: keyFile, RatePerSecond: 100, Burst: 100}, prometheus.NewRegistry(), log)
	ca := newTestCA(t, "Corp S/MIME CA")
	der := ca.issue(t, "alice@corp.example", time.Now())
	srv.Swap(NewIndex([]Entry{{Addresses: []string{"alice@corp.example"}, DER: [][]byte{der}}}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()

	pool := x509.NewCertPool()
	b, _ := os.ReadFile(certFile)
	pool.AppendCertsFromPEM(b)
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	resp, err := c.Get("https://" + ln.Addr().String() + "/certs/alice@corp.example")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("%d over TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	// Headers beyond the cap are refused before any handler runs.
	req, _ := http.NewRequest("GET", "https://"+ln.Addr().String()+"/certs/alice@corp.example", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 2*maxHeaderBytes))
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("oversized headers: %d", resp.StatusCode)
		}
	}
	c.CloseIdleConnections()

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after cancel: %v", err)
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
}

func TestServeRefusesUnreadableTLSFiles(t *testing.T) {
	log, _ := test.NewNullLogger()
	srv := NewServer(config.Lookup{TLSCertFile: "/nonexistent.pem", TLSKeyFile: "/nonexistent.key", RatePerSecond: 1, Burst: 1}, prometheus.NewRegistry(), log)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(context.Background(), ln); err == nil || !strings.Contains(err.Error(), "tls_cert_file") {
		t.Errorf("Serve: %v", err)
	}
}

func selfSigned(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	return writeKeyPair(t, t.TempDir(), 1)
}

// writeKeyPair writes a self-signed localhost certificate with serial and its
// key as dir/tls.pem and dir/tls.key.
func writeKeyPair(t *testing.T, dir string, serial int64) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "tls.pem"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestTLSCertificateRenewedWithoutRestart: renewed TLS files are served from
// the first handshake after the next check; a half-written renewal (a
// certificate without its key) keeps the old pair until the files load.
func TestTLSCertificateRenewedWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := writeKeyPair(t, dir, 1)
	log, hook := test.NewNullLogger()
	pair, err := loadKeyPair(certFile, keyFile, log)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	pair.now = func() time.Time { return clock }
	serial := func() int64 {
		t.Helper()
		c, err := pair.get(nil)
		if err != nil {
			t.Fatal(err)
		}
		x, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return x.SerialNumber.Int64()
	}
	if got := serial(); got != 1 {
		t.Fatalf("serial %d, want 1", got)
	}

	// Renewed: still the old one until the check is due, then the new one.
	other := t.TempDir()
	newCert, newKey := writeKeyPair(t, other, 2)
	copyFile(t, newCert, certFile, clock.Add(time.Minute))
	copyFile(t, newKey, keyFile, clock.Add(time.Minute))
	if got := serial(); got != 1 {
		t.Errorf("before the check is due: serial %d, want 1", got)
	}
	clock = clock.Add(keyPairCheck)
	if got := serial(); got != 2 {
		t.Errorf("after the check: serial %d, want 2", got)
	}

	// Half written: a new certificate whose key has not arrived yet.
	thirdCert, thirdKey := writeKeyPair(t, t.TempDir(), 3)
	copyFile(t, thirdCert, certFile, clock.Add(2*time.Minute))
	clock = clock.Add(keyPairCheck)
	if got := serial(); got != 2 {
		t.Errorf("certificate without its key: serial %d, want the previous 2", got)
	}
	if e := hook.LastEntry(); e == nil || e.Level != logrus.ErrorLevel {
		t.Error("a renewal that does not load is not logged as an error")
	}
	copyFile(t, thirdKey, keyFile, clock.Add(2*time.Minute))
	clock = clock.Add(keyPairCheck)
	if got := serial(); got != 3 {
		t.Errorf("once the key arrived: serial %d, want 3", got)
	}
}

// copyFile copies from over to, then sets to's mtime to mtime: a renewal
// must be seen even when the clock is too coarse to tell two writes apart.
func copyFile(t *testing.T, from, to string, mtime time.Time) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(to, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}
