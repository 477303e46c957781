package lookup

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/config"
)

// answer is a response as a client sees it.
type answer struct {
	code                int
	etag, length, ctype string
	body                string
}

// answers asks srv for every format of addr's certificates, by /certs and by search, GET and
// HEAD, and with the ETag it was given.
func answers(t *testing.T, srv *Server, addr string) map[string]answer {
	t.Helper()
	out := map[string]answer{}
	targets := []string{"/search.cgi?email=" + addr}
	for _, f := range []string{"der", "pem", "p7c", "json"} {
		targets = append(targets, "/certs/"+addr+"?format="+f)
	}
	for _, target := range targets {
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			a := ask(srv, method, target, "")
			out[method+" "+target] = a
			if a.etag != "" {
				out["304 "+target] = ask(srv, method, target, a.etag)
			}
		}
	}
	return out
}

func ask(srv *Server, method, target, inm string) answer {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = "192.0.2.1:4711"
	if inm != "" {
		r.Header.Set("If-None-Match", inm)
	}
	w := httptest.NewRecorder()
	srv.Handler().ServeHTTP(w, r)
	h := w.Result().Header
	return answer{code: w.Code, etag: h.Get("Etag"), length: h.Get("Content-Length"), ctype: h.Get("Content-Type"), body: w.Body.String()}
}

func newTestServer(t *testing.T) (*Server, *prometheus.Registry, *test.Hook) {
	t.Helper()
	log, hook := test.NewNullLogger()
	reg := prometheus.NewRegistry()
	return NewServer(config.Lookup{RatePerSecond: 1e9, Burst: 1 << 30}, reg, log), reg, hook
}

// sumEntries gives entries by their sums, with a Fetch that counts what it is asked for.
func sumEntries(entries []Entry) ([]Entry, func(i, j int) ([]byte, error), *int) {
	asked := 0
	out := make([]Entry, len(entries))
	for i, e := range entries {
		out[i] = Entry{Addresses: e.Addresses}
		for _, der := range e.DER {
			out[i].Sums = append(out[i].Sums, sha256.Sum256(der))
		}
	}
	return out, func(i, j int) ([]byte, error) {
		asked++
		return entries[i].DER[j], nil
	}, &asked
}

func TestStoreCorruptByteIsNeverServed(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	now := time.Now()
	alice, bob := ca.issue(t, "alice@corp.example", now), ca.issue(t, "bob@corp.example", now)
	entries := []Entry{
		{Addresses: []string{"alice@corp.example"}, DER: [][]byte{alice}},
		{Addresses: []string{"bob@corp.example"}, DER: [][]byte{bob}},
	}
	ix := Build(entries, Options{Dir: t.TempDir()})
	if ix.body.store.f == nil {
		t.Fatal("the certificates are not in a file")
	}
	srv, _, _ := newTestServer(t)
	srv.Swap(ix)
	good := answers(t, srv, "alice@corp.example")

	for _, part := range []struct {
		name string
		at   func(c *cert) int64
		// hit says whether a request reads the part: the JSON fields are read for JSON only.
		hit func(req string) bool
	}{
		{"DER", func(c *cert) int64 { return c.at + int64(c.der)/2 }, func(string) bool { return true }},
		{"JSON fields", func(c *cert) int64 { return c.at + int64(c.der) + 3 },
			func(req string) bool { return strings.HasSuffix(req, "format=json") }},
	} {
		n, _ := ix.find(sha256.Sum256(alice))
		at := part.at(&ix.certs[n])
		var b [1]byte
		if _, err := ix.body.store.f.ReadAt(b[:], at); err != nil {
			t.Fatal(err)
		}
		if _, err := ix.body.store.f.WriteAt([]byte{b[0] ^ 0x40}, at); err != nil {
			t.Fatal(err)
		}
		for req, a := range answers(t, srv, "alice@corp.example") {
			switch {
			case strings.HasPrefix(req, "304 "):
				// a client that has the bytes is not sent any
			case !part.hit(req):
				if a != good[req] {
					t.Errorf("%s changed: %s: %d %q, not the bytes it serves", part.name, req, a.code, a.body)
				}
			case a.code != http.StatusInternalServerError || strings.Contains(a.body, "CERTIFICATE") || len(a.body) > 100:
				t.Errorf("%s changed: %s: %d %q", part.name, req, a.code, a.body)
			}
		}
		// Bob's bytes are intact and served.
		if a := ask(srv, http.MethodGet, "/certs/bob@corp.example", ""); a.code != http.StatusOK || a.body != string(bob) {
			t.Errorf("bob: %d", a.code)
		}
		if _, err := ix.body.store.f.WriteAt(b[:], at); err != nil {
			t.Fatal(err)
		}
	}
	if got := testutil.ToFloat64(srv.metrics.storeErrors[storeCorrupt]); got == 0 {
		t.Error("corrupt bytes were not counted")
	}

	// The next index, of the same entries, fetches the certificate found wrong again, to a new
	// place in the file.
	sums, fetch, asked := sumEntries(entries)
	next := ix.RebuildWith(sums, Options{Fetch: fetch})
	if next == ix {
		t.Fatal("the same entries gave the index with the wrong bytes back")
	}
	if *asked != 1 {
		t.Errorf("fetched %d certificates, want 1 (alice's, found wrong)", *asked)
	}
	n, _ := ix.find(sha256.Sum256(alice))
	m, _ := next.find(sha256.Sum256(alice))
	if next.certs[m].at == ix.certs[n].at {
		t.Error("the certificate found wrong was reused where it was")
	}
	srv.Swap(next)
	if got := answers(t, srv, "alice@corp.example"); fmt.Sprint(got) != fmt.Sprint(good) {
		t.Errorf("after a rebuild:\n%v\nwant\n%v", got, good)
	}
	if next.RebuildWith(sums, Options{Fetch: fetch}) != next {
		t.Error("once fetched again, the same entries built a new index")
	}
}

func TestStoreRebuildReusesOffsetsWithoutFetching(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	now := time.Now()
	var entries []Entry
	for i := range 20 {
		addr := fmt.Sprintf("user%d@corp.example", i)
		entries = append(entries, Entry{Addresses: []string{addr}, DER: [][]byte{ca.issue(t, addr, now)}})
	}
	sums, fetch, asked := sumEntries(entries[:19])
	first := Build(sums, Options{Dir: t.TempDir(), Fetch: fetch})
	if *asked != 19 {
		t.Fatalf("first build fetched %d, want 19", *asked)
	}
	size := first.body.store.size
	sums, fetch, asked = sumEntries(entries[1:])
	second := first.RebuildWith(sums, Options{Fetch: fetch})
	if *asked != 1 {
		t.Errorf("rebuild fetched %d certificates, want 1 (the new one)", *asked)
	}
	if second.body.store != first.body.store {
		t.Fatal("the rebuild has a store of its own")
	}
	n, _ := second.find(sha256.Sum256(entries[19].DER[0]))
	if grew := second.body.store.size - size; grew != int64(second.certs[n].size()) {
		t.Errorf("the store grew by %d bytes, want the new certificate's %d", grew, second.certs[n].size())
	}
	for _, c := range first.certs[:] {
		if n, ok := second.find(c.sum); ok && second.certs[n].at != c.at {
			t.Errorf("certificate %x moved from %d to %d", c.sum[:4], c.at, second.certs[n].at)
		}
	}
	if st := second.Stats(); st.Reused != 18 || st.Certificates != 19 {
		t.Errorf("stats %+v", st)
	}
	// Both indexes answer from the one file.
	for _, ix := range []*Index{first, second} {
		srv, _, _ := newTestServer(t)
		srv.Swap(ix)
		if a := ask(srv, http.MethodGet, "/certs/user5@corp.example", ""); a.body != string(entries[5].DER[0]) {
			t.Errorf("user5: %d", a.code)
		}
	}
}

func TestStoreCompactionKeepsEveryResponse(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	now := time.Now()
	var entries []Entry
	for i := range 12 {
		addr := fmt.Sprintf("user%d@corp.example", i)
		e := Entry{Addresses: []string{addr}, DER: [][]byte{ca.issue(t, addr, now)}}
		if i%3 == 0 {
			e.DER = append(e.DER, ca.issue(t, addr, now.Add(-time.Hour)), ca.issue(t, addr, now.Add(-2*time.Hour)))
		}
		entries = append(entries, e)
	}
	srv, _, _ := newTestServer(t)
	first := Build(entries, Options{Dir: t.TempDir()})
	srv.Swap(first)
	want := map[string]map[string]answer{}
	for _, e := range entries[:4] {
		want[e.Addresses[0]] = answers(t, srv, e.Addresses[0])
	}
	// Two thirds of the certificates go: the file is compacted into a new one.
	second := first.Rebuild(entries[:4])
	if second.body.store == first.body.store {
		t.Fatal("not compacted")
	}
	if second.body.store.size != second.live {
		t.Errorf("the new file holds %d bytes, the index reads %d", second.body.store.size, second.live)
	}
	srv.Swap(second)
	for addr, w := range want {
		if got := answers(t, srv, addr); fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%s after compaction:\n%v\nwant\n%v", addr, got, w)
		}
	}
	for _, e := range entries[4:] {
		if a := ask(srv, http.MethodGet, "/certs/"+e.Addresses[0], ""); a.code != http.StatusNotFound {
			t.Errorf("%s: %d", e.Addresses[0], a.code)
		}
	}
	// The old file stays open for the index being replaced until the next index is built.
	srvOld, _, _ := newTestServer(t)
	srvOld.Swap(first)
	if a := ask(srvOld, http.MethodGet, "/certs/user0@corp.example", ""); a.code != http.StatusOK {
		t.Errorf("the replaced index no longer reads its file: %d", a.code)
	}
	third := second.Rebuild(entries[:3])
	srv.Swap(third)
	if a := ask(srvOld, http.MethodGet, "/certs/user0@corp.example", ""); a.code != http.StatusServiceUnavailable {
		t.Errorf("an index two rebuilds old: %d, want 503", a.code)
	}
	if got := answers(t, srv, "user0@corp.example"); fmt.Sprint(got) != fmt.Sprint(want["user0@corp.example"]) {
		t.Errorf("after the next rebuild:\n%v\nwant\n%v", got, want["user0@corp.example"])
	}
}

func TestStoreClosedFileIsAnErrorNotBytes(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	der := ca.issue(t, "alice@corp.example", time.Now())
	ix := Build([]Entry{{Addresses: []string{"alice@corp.example"}, DER: [][]byte{der}}}, Options{Dir: t.TempDir()})
	srv, _, hook := newTestServer(t)
	srv.Swap(ix)
	ix.body.store.close()
	for req, a := range answers(t, srv, "alice@corp.example") {
		if strings.HasPrefix(req, "304 ") {
			continue
		}
		if a.code != http.StatusServiceUnavailable || bytes.Contains([]byte(a.body), der[:20]) {
			t.Errorf("%s: %d %q", req, a.code, a.body)
		}
	}
	if got := testutil.ToFloat64(srv.metrics.storeErrors[storeRead]); got == 0 {
		t.Error("failed reads were not counted")
	}
	if e := hook.LastEntry(); e == nil || e.Level != logrus.ErrorLevel {
		t.Errorf("not logged: %v", hook.AllEntries())
	}
}

func TestStoreFallsBackToMemory(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	now := time.Now()
	alice := ca.issue(t, "alice@corp.example", now)
	entries := []Entry{{Addresses: []string{"alice@corp.example"}, DER: [][]byte{alice, ca.issue(t, "alice@corp.example", now.Add(-time.Hour))}}}
	// A file where the directory should be: nothing can be created in it.
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	log, hook := test.NewNullLogger()
	mem := Build(entries, Options{Dir: notDir, Log: log})
	if mem.body.store.f != nil {
		t.Fatal("a file was created")
	}
	if e := hook.LastEntry(); e == nil || e.Level != logrus.WarnLevel {
		t.Errorf("the fallback was not logged: %v", hook.AllEntries())
	}
	inFile := Build(entries, Options{Dir: t.TempDir()})
	srvMem, _, _ := newTestServer(t)
	srvMem.Swap(mem)
	srvFile, _, _ := newTestServer(t)
	srvFile.Swap(inFile)
	got, want := answers(t, srvMem, "alice@corp.example"), answers(t, srvFile, "alice@corp.example")
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("in memory:\n%v\nin a file:\n%v", got, want)
	}
	x := sha1.Sum(alice)
	if a := ask(srvMem, http.MethodGet, "/search.cgi?certHash="+url.QueryEscape(base64.RawStdEncoding.EncodeToString(x[:])), ""); a.code != http.StatusOK || a.body != string(alice) {
		t.Errorf("search in memory: %d", a.code)
	}
	// A rebuild in memory appends; the index before it still reads what it read.
	next := mem.Rebuild([]Entry{{Addresses: []string{"bob@corp.example"}, DER: [][]byte{ca.issue(t, "bob@corp.example", now)}}, entries[0]})
	srvMem.Swap(next)
	if got := answers(t, srvMem, "alice@corp.example"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after a rebuild in memory:\n%v", got)
	}
}

// The file is unlinked as soon as it is created: nothing is left in the directory.
func TestStoreFileLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "Corp S/MIME CA")
	ix := Build([]Entry{{Addresses: []string{"alice@corp.example"}, DER: [][]byte{ca.issue(t, "alice@corp.example", time.Now())}}}, Options{Dir: dir})
	if ix.body.store.f == nil {
		t.Fatal("no file")
	}
	if names, err := os.ReadDir(dir); err != nil || len(names) != 0 {
		t.Errorf("left in the directory: %v %v", names, err)
	}
}
