package certsource

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFetchCRL(t *testing.T) {
	ca := newTestCA(t, "CRL CA")
	stranger := newTestCA(t, "Stranger")
	leaf := ca.issue(t, "a@corp.example")
	now := time.Now()
	der := ca.crl(t, now, now.Add(time.Hour), leaf.SerialNumber)
	bodies := map[string][]byte{
		"/der":      der,
		"/pem":      pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}),
		"/stranger": stranger.crl(t, now, now.Add(time.Hour)),
		"/garbage":  []byte("<html>maintenance</html>"),
		"/key":      readFixture(t, "ec-key.pem"),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer srv.Close()
	trust := ca.trust()
	client := newCRLClient(trust)

	for _, path := range []string{"/der", "/pem"} {
		crl, err := fetchCRL(context.Background(), client, srv.URL+path, trust)
		if err != nil || len(crl.revs) != 1 || crl.revs[0].Serial.Cmp(leaf.SerialNumber) != 0 || crl.nextUpdate.IsZero() {
			t.Errorf("%s: %+v, %v", path, crl, err)
		}
	}
	for path, want := range map[string]string{
		"/stranger": "does not verify", "/garbage": "not one CRL", "/key": "not one CRL", "/missing": "404",
	} {
		if _, err := fetchCRL(context.Background(), client, srv.URL+path, trust); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", path, err, want)
		}
	}
	u := strings.Replace(srv.URL, "http://", "http://user:s3cret@", 1) + "/missing"
	if _, err := fetchCRL(context.Background(), client, u, trust); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("password in URL: %v", err)
	}
}
