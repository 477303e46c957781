package lookup

import (
	"crypto/sha1"
	"crypto/sha256"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The index holds the start of each search key; certificates whose keys start alike are told
// apart by their whole keys, read from the store.
func TestSearchKeysThatStartAlike(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	now := time.Now()
	alice, bob := ca.issue(t, "alice@corp.example", now), ca.issue(t, "bob@corp.example", now)
	ix := Build([]Entry{
		{Addresses: []string{"alice@corp.example"}, DER: [][]byte{alice}},
		{Addresses: []string{"bob@corp.example"}, DER: [][]byte{bob}},
	}, Options{Dir: t.TempDir()})
	srv, _, _ := newTestServer(t)
	srv.Swap(ix)
	// Each in turn gets the other's keys' start, so that the other is in the run its
	// search reads, before it or after it.
	for _, tc := range []struct {
		name       string
		der, other []byte
	}{{"alice", alice, bob}, {"bob", bob, alice}} {
		n, _ := ix.find(sha256.Sum256(tc.der))
		m, _ := ix.find(sha256.Sum256(tc.other))
		saved := ix.certs[m].keys
		ix.certs[m].keys = ix.certs[n].keys
		ix.addSearchKeys()
		r := ask(srv, http.MethodGet, "/search.cgi?certHash="+url.QueryEscape(SearchKey(sha1.Sum(tc.der))), "")
		if r.code != http.StatusOK || r.body != string(tc.der) {
			t.Errorf("%s by certHash: %d, %d bytes, not the certificate", tc.name, r.code, len(r.body))
		}
		none := sha1.Sum(tc.der)
		none[19] ^= 1 // starts as both keys, and is nobody's
		if r := ask(srv, http.MethodGet, "/search.cgi?certHash="+url.QueryEscape(SearchKey(none)), ""); r.code != http.StatusNotFound {
			t.Errorf("a key nobody has that starts as %s's: %d", tc.name, r.code)
		}
		ix.certs[m].keys = saved
	}
}

// A search key changed in the store is never taken for the one written: the search answers
// 500, serves no certificate, and counts it.
func TestSearchKeysCorruptNeverServed(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	now := time.Now()
	alice := ca.issue(t, "alice@corp.example", now)
	ix := Build([]Entry{{Addresses: []string{"alice@corp.example"}, DER: [][]byte{alice}}}, Options{Dir: t.TempDir()})
	if ix.body.store.f == nil {
		t.Fatal("the certificates are not in a file")
	}
	srv, _, _ := newTestServer(t)
	srv.Swap(ix)
	target := "/search.cgi?certHash=" + url.QueryEscape(SearchKey(sha1.Sum(alice)))
	n, _ := ix.find(sha256.Sum256(alice))
	c := &ix.certs[n]
	at := c.at + int64(c.der) + int64(c.fields) + keysLen - 1 // the last byte of sKIDHash
	var b [1]byte
	if _, err := ix.body.store.f.ReadAt(b[:], at); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.body.store.f.WriteAt([]byte{b[0] ^ 0x40}, at); err != nil {
		t.Fatal(err)
	}
	if r := ask(srv, http.MethodGet, target, ""); r.code != http.StatusInternalServerError || strings.Contains(r.body, string(alice)) {
		t.Errorf("search with a key changed in the store: %d %q", r.code, r.body)
	}
	if got := testutil.ToFloat64(srv.metrics.storeErrors[storeCorrupt]); got != 1 {
		t.Errorf("corrupt keys counted %v times, want 1", got)
	}
	// /certs does not read the keys.
	if r := ask(srv, http.MethodGet, "/certs/alice@corp.example", ""); r.code != http.StatusOK || r.body != string(alice) {
		t.Errorf("/certs with a key changed in the store: %d", r.code)
	}
	if _, err := ix.body.store.f.WriteAt(b[:], at); err != nil {
		t.Fatal(err)
	}
	if r := ask(srv, http.MethodGet, target, ""); r.code != http.StatusOK || r.body != string(alice) {
		t.Errorf("search once the key is back: %d", r.code)
	}
}
