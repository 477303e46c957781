package lookup

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/config"
)

// fixture is a served index: Alice has one certificate under two addresses, Bob two, Carol
// is a user without a certificate (the pass published no entry for her).
type fixture struct {
	srv             *Server
	reg             *prometheus.Registry
	url             string
	ca              *testCA
	alice           []byte
	bobOld, bobNew  []byte
	aliceX, bobNewX *x509.Certificate
}

func newFixture(t *testing.T, cfg config.Lookup) *fixture {
	t.Helper()
	if cfg.RatePerSecond == 0 {
		cfg.RatePerSecond, cfg.Burst = 1e6, 1e6
	}
	f := &fixture{reg: prometheus.NewRegistry(), ca: newTestCA(t, "Corp S/MIME CA")}
	log, _ := test.NewNullLogger()
	f.srv = NewServer(cfg, f.reg, log)
	now := time.Now().Truncate(time.Second)
	f.alice = f.ca.issue(t, "alice@corp.example", now.Add(-time.Hour))
	f.bobOld = f.ca.issue(t, "bob@corp.example", now.Add(-72*time.Hour))
	f.bobNew = f.ca.issue(t, "bob@corp.example", now.Add(-2*time.Hour))
	f.aliceX, _ = x509.ParseCertificate(f.alice)
	f.bobNewX, _ = x509.ParseCertificate(f.bobNew)
	f.srv.Swap(NewIndex([]Entry{
		{Addresses: []string{"alice@corp.example", "a.smith+gal@corp.example"}, DER: [][]byte{f.alice}},
		{Addresses: []string{"bob@corp.example"}, DER: [][]byte{f.bobOld, f.bobNew}},
		{Addresses: []string{"carol@corp.example"}},
	}))
	ts := httptest.NewServer(f.srv.Handler())
	t.Cleanup(ts.Close)
	f.url = ts.URL
	return f
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func (f *fixture) do(t *testing.T, method, path string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func (f *fixture) get(t *testing.T, path string, header ...string) response {
	t.Helper()
	return f.do(t, http.MethodGet, path, header...)
}

func TestCertsFormats(t *testing.T) {
	f := newFixture(t, config.Lookup{})
	browser := "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
	for _, tc := range []struct {
		name, path string
		header     []string
		ctype      string
	}{
		{"default", "/certs/alice@corp.example", nil, "application/pkix-cert"},
		{"format der", "/certs/alice@corp.example?format=der", nil, "application/pkix-cert"},
		{"format pem", "/certs/alice@corp.example?format=pem", nil, "application/x-pem-file"},
		{"format p7c", "/certs/alice@corp.example?format=p7c", nil, "application/pkcs7-mime; smime-type=certs-only"},
		{"format json", "/certs/alice@corp.example?format=json", nil, "application/json"},
		{"format beats Accept", "/certs/alice@corp.example?format=pem", []string{"Accept", "application/json"}, "application/x-pem-file"},
		{"other parameters ignored", "/certs/alice@corp.example?_=1&format=json", nil, "application/json"},
		{"Accept json", "/certs/alice@corp.example", []string{"Accept", "application/json"}, "application/json"},
		{"Accept pem", "/certs/alice@corp.example", []string{"Accept", "application/x-pem-file"}, "application/x-pem-file"},
		{"Accept pkcs7", "/certs/alice@corp.example", []string{"Accept", "application/pkcs7-mime"}, "application/pkcs7-mime; smime-type=certs-only"},
		{"Accept pkix-cert", "/certs/alice@corp.example", []string{"Accept", "application/pkix-cert"}, "application/pkix-cert"},
		{"Accept q", "/certs/alice@corp.example", []string{"Accept", "application/json;q=0.5, application/x-pem-file"}, "application/x-pem-file"},
		{"Accept specific beats wildcard", "/certs/alice@corp.example", []string{"Accept", "*/*;q=0.1, application/json"}, "application/json"},
		{"Accept a browser's", "/certs/alice@corp.example", []string{"Accept", browser}, "application/pkix-cert"},
		{"Accept application/*", "/certs/alice@corp.example", []string{"Accept", "application/*"}, "application/pkix-cert"},
		{"Accept unreadable", "/certs/alice@corp.example", []string{"Accept", ";;;"}, "application/pkix-cert"},
		{"address case folded", "/certs/ALICE@Corp.Example", nil, "application/pkix-cert"},
		{"second address", "/certs/a.smith+gal@corp.example", nil, "application/pkix-cert"},
		{"escaped address", "/certs/alice%40corp.example", nil, "application/pkix-cert"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.get(t, tc.path, tc.header...)
			if r.code != 200 || r.header.Get("Content-Type") != tc.ctype {
				t.Fatalf("%d %q, want 200 %q\n%s", r.code, r.header.Get("Content-Type"), tc.ctype, r.body)
			}
			checkCacheable(t, r)
			if r.header.Get("Vary") != "Accept" {
				t.Errorf("Vary %q", r.header.Get("Vary"))
			}
			var der []byte
			switch tc.ctype {
			case "application/pkix-cert":
				der = r.body
			case "application/x-pem-file":
				der = pemBlocks(t, r.body)[0]
			case "application/json":
				var doc struct{ Certificates []certJSON }
				if err := json.Unmarshal(r.body, &doc); err != nil || len(doc.Certificates) != 1 {
					t.Fatalf("JSON %v: %s", err, r.body)
				}
				c := doc.Certificates[0]
				if c.Subject != "CN=alice@corp.example" || c.Issuer != "CN=Corp S/MIME CA,O=Corp" || c.Serial != "1001" ||
					!c.NotAfter.Equal(f.aliceX.NotAfter) || !c.NotBefore.Equal(f.aliceX.NotBefore) || len(c.SHA256) != 64 {
					t.Errorf("JSON %+v", c)
				}
				der = pemBlocks(t, []byte(c.PEM))[0]
			default:
				der = p7cCerts(t, r.body)[0]
			}
			if !bytes.Equal(der, f.alice) {
				t.Error("not Alice's certificate")
			}
		})
	}
}

func TestCertsSeveral(t *testing.T) {
	f := newFixture(t, config.Lookup{})
	if r := f.get(t, "/certs/bob@corp.example"); !bytes.Equal(r.body, f.bobNew) {
		t.Error("DER is not Bob's newest certificate")
	}
	if b := pemBlocks(t, f.get(t, "/certs/bob@corp.example?format=pem").body); len(b) != 2 || !bytes.Equal(b[0], f.bobNew) {
		t.Error("PEM does not hold both, newest first")
	}
	if n := len(p7cCerts(t, f.get(t, "/certs/bob@corp.example?format=p7c").body)); n != 2 {
		t.Errorf("p7c holds %d", n)
	}
	var doc struct{ Certificates []certJSON }
	json.Unmarshal(f.get(t, "/certs/bob@corp.example?format=json").body, &doc)
	if len(doc.Certificates) != 2 || !doc.Certificates[0].NotBefore.Equal(f.bobNewX.NotBefore) {
		t.Errorf("JSON %+v", doc)
	}
}

func checkCacheable(t *testing.T, r response) {
	t.Helper()
	if r.header.Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
	if e := r.header.Get("ETag"); len(e) < 3 || e[0] != '"' {
		t.Errorf("ETag %q", e)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Error("no nosniff")
	}
}

func TestCertsErrors(t *testing.T) {
	f := newFixture(t, config.Lookup{})
	for _, tc := range []struct {
		name, method, path string
		header             []string
		code               int
	}{
		{"unknown format", "GET", "/certs/alice@corp.example?format=xml", nil, 400},
		{"format twice", "GET", "/certs/alice@corp.example?format=pem&format=der", nil, 400},
		{"bad escape in query", "GET", "/certs/alice@corp.example?format=%zz", nil, 400},
		{"nothing acceptable", "GET", "/certs/alice@corp.example", []string{"Accept", "text/html"}, 406},
		{"all refused", "GET", "/certs/alice@corp.example", []string{"Accept", "*/*;q=0"}, 406},
		{"no @", "GET", "/certs/alice", nil, 400},
		{"domain only", "GET", "/certs/@corp.example", nil, 400},
		{"local part only", "GET", "/certs/alice@", nil, 400},
		{"two @", "GET", "/certs/alice@corp@example", nil, 400},
		{"space", "GET", "/certs/alice%20@corp.example", nil, 400},
		{"too long", "GET", "/certs/" + strings.Repeat("a", 250) + "@corp.example", nil, 400},
		{"wildcard is no wildcard", "GET", "/certs/*@corp.example", nil, 404},
		{"percent is no wildcard", "GET", "/certs/a%25@corp.example", nil, 404},
		{"prefix", "GET", "/certs/alice@corp.exampl", nil, 404},
		{"Unicode case", "GET", "/certs/ALİCE@corp.example", nil, 404},
		{"unknown", "GET", "/certs/nobody@corp.example", nil, 404},
		{"no listing", "GET", "/certs/", nil, 404},
		{"no listing either", "GET", "/certs", nil, 404},
		{"deeper path", "GET", "/certs/alice@corp.example/x", nil, 404},
		{"POST", "POST", "/certs/alice@corp.example", nil, 405},
		{"PUT", "PUT", "/certs/alice@corp.example", nil, 405},
		{"DELETE", "DELETE", "/certs/alice@corp.example", nil, 405},
		{"unknown path", "GET", "/admin", nil, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, tc.method, tc.path, tc.header...)
			if r.code != tc.code {
				t.Fatalf("%d, want %d\n%s", r.code, tc.code, r.body)
			}
			if cc := r.header.Get("Cache-Control"); cc == "" || tc.code == 404 && cc != "no-cache" {
				t.Errorf("Cache-Control %q (a 404 must not be cached: a new hire's key would stay invisible)", cc)
			}
			if tc.code == 405 && r.header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow %q", r.header.Get("Allow"))
			}
			if bytes.Contains(r.body, []byte("BEGIN CERTIFICATE")) || bytes.Contains(r.body, f.alice) {
				t.Error("an error carries a certificate")
			}
		})
	}
}

// A user without a certificate and an address nobody has must not be told apart.
func TestCertsNotFoundIsTheSameForEveryone(t *testing.T) {
	f := newFixture(t, config.Lookup{})
	for _, format := range []string{"", "?format=pem", "?format=json"} {
		carol := f.get(t, "/certs/carol@corp.example"+format)
		nobody := f.get(t, "/certs/nobody@corp.example"+format)
		carol.header.Del("Date")
		nobody.header.Del("Date")
		if carol.code != 404 || nobody.code != 404 {
			t.Fatalf("%d and %d, want 404", carol.code, nobody.code)
		}
		if !bytes.Equal(carol.body, nobody.body) || !equalHeaders(carol.header, nobody.header) {
			t.Errorf("the answers differ:\n%v %q\n%v %q", carol.header, carol.body, nobody.header, nobody.body)
		}
		if s := f.get(t, "/search.cgi?email=carol@corp.example"); s.code != 404 || !bytes.Equal(s.body, nobody.body) {
			t.Errorf("search for Carol: %d %q", s.code, s.body)
		}
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

func TestCertsHeadAndConditional(t *testing.T) {
	f := newFixture(t, config.Lookup{})
	get := f.get(t, "/certs/alice@corp.example")
	head := f.do(t, http.MethodHead, "/certs/alice@corp.example")
	if head.code != 200 || len(head.body) != 0 || head.header.Get("Content-Length") != get.header.Get("Content-Length") ||
		head.header.Get("ETag") != get.header.Get("ETag") {
		t.Errorf("HEAD %d %v", head.code, head.header)
	}
	etag := get.header.Get("ETag")
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		r := f.get(t, "/certs/alice@corp.example", "If-None-Match", inm)
		if r.code != 304 || len(r.body) != 0 || r.header.Get("ETag") != etag {
			t.Errorf("If-None-Match %s: %d", inm, r.code)
		}
		checkCacheable(t, r)
	}
	for _, inm := range []string{`"other"`, strings.Trim(etag, `"`), `"` + etag} {
		if r := f.get(t, "/certs/alice@corp.example", "If-None-Match", inm); r.code != 200 {
			t.Errorf("If-None-Match %s: %d, want 200", inm, r.code)
		}
	}
	// Another representation has another validator.
	pemResp := f.get(t, "/certs/alice@corp.example?format=pem", "If-None-Match", etag)
	if pemResp.code != 200 || pemResp.header.Get("ETag") == etag {
		t.Errorf("PEM with the DER's ETag: %d %s", pemResp.code, pemResp.header.Get("ETag"))
	}
}

func TestSearch(t *testing.T) {
	f := newFixture(t, config.Lookup{})
	keys, _, _ := x509Keys(f.aliceX)
	bobKeys, _, _ := x509Keys(f.bobNewX)
	q := func(attr string, k [20]byte) string {
		return "/search.cgi?" + attr + "=" + url.QueryEscape(SearchKey(k))
	}
	for _, tc := range []struct {
		name, path string
		want       [][]byte
	}{
		{"email", "/search.cgi?email=alice@corp.example", [][]byte{f.alice}},
		{"email folded and escaped", "/search.cgi?email=ALICE%40corp.example", [][]byte{f.alice}},
		{"uri with mailto", "/search.cgi?uri=mailto:alice@corp.example", [][]byte{f.alice}},
		{"email, several", "/search.cgi?email=bob@corp.example", [][]byte{f.bobNew, f.bobOld}},
		{"certHash", q("certHash", keys[keyCert]), [][]byte{f.alice}},
		{"sHash", q("sHash", keys[keySubject]), [][]byte{f.alice}},
		{"sHash, several", q("sHash", bobKeys[keySubject]), [][]byte{f.bobNew, f.bobOld}},
		{"iAndSHash", q("iAndSHash", keys[keyIAndS]), [][]byte{f.alice}},
		{"sKIDHash", q("sKIDHash", keys[keySKID]), [][]byte{f.alice}},
		{"iHash, few", q("iHash", keys[keyIssuer]), [][]byte{f.alice, f.bobNew, f.bobOld}},
		{"unescaped +", "/search.cgi?certHash=" + SearchKey(keys[keyCert]), [][]byte{f.alice}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.get(t, tc.path)
			if r.code != 200 {
				t.Fatalf("%d\n%s", r.code, r.body)
			}
			checkCacheable(t, r)
			got := searchBody(t, r)
			if len(got) != len(tc.want) {
				t.Fatalf("%d certificates, want %d", len(got), len(tc.want))
			}
			for _, w := range tc.want {
				found := false
				for _, g := range got {
					found = found || bytes.Equal(g, w)
				}
				if !found {
					t.Error("a certificate is missing")
				}
			}
			if len(tc.want) > 1 && !bytes.Equal(got[0], tc.want[0]) {
				t.Error("not newest first")
			}
			if again := f.get(t, tc.path, "If-None-Match", r.header.Get("ETag")); again.code != 304 {
				t.Errorf("If-None-Match: %d", again.code)
			}
		})
	}
	if !strings.Contains(SearchKey(keys[keyCert])+SearchKey(keys[keySubject])+SearchKey(keys[keyIAndS]), "+") {
		t.Log("no search key with a '+' this run; the unescaped case was not exercised")
	}
}

func searchBody(t *testing.T, r response) [][]byte {
	t.Helper()
	mt, params, err := mime.ParseMediaType(r.header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	switch mt {
	case "application/pkix-cert":
		return [][]byte{r.body}
	case "multipart/mixed":
		var out [][]byte
		mr := multipart.NewReader(bytes.NewReader(r.body), params["boundary"])
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Header.Get("Content-Type") != "application/pkix-cert" {
				t.Errorf("part type %q", p.Header.Get("Content-Type"))
			}
			b, _ := io.ReadAll(p)
			out = append(out, b)
		}
	}
	t.Fatalf("Content-Type %q", mt)
	return nil
}

func TestSearchErrors(t *testing.T) {
	f := newFixture(t, config.Lookup{})
	keys, _, _ := x509Keys(f.aliceX)
	good := SearchKey(keys[keyCert])
	for _, tc := range []struct {
		name, query string
		code        int
	}{
		{"nothing", "", 400},
		{"empty value", "?certHash=", 400},
		{"no value", "?certHash", 400},
		{"two attributes", "?certHash=" + good + "&sHash=" + good, 400},
		{"one attribute twice", "?certHash=" + good + "&certHash=" + good, 400},
		{"unknown attribute", "?name=CN%3Dalice", 400},
		{"attribute case", "?certhash=" + good, 400},
		{"short key", "?certHash=" + good[:26], 400},
		{"long key", "?certHash=" + good + "A", 400},
		{"padded key", "?certHash=" + good[:26] + "=", 400},
		{"URL-safe alphabet", "?certHash=" + strings.Repeat("-", 27), 400},
		{"space", "?certHash=" + good[:26] + "%20", 400},
		{"bad escape", "?certHash=%zz", 400},
		{"unused bits set", "?certHash=" + strings.Repeat("A", 26) + "B", 400},
		{"not an address", "?email=alice", 400},
		{"no match", "?certHash=" + strings.Repeat("A", 27), 404},
		{"unknown address", "?email=nobody@corp.example", 404},
		{"prefix", "?email=ali", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.get(t, "/search.cgi"+tc.query)
			if r.code != tc.code {
				t.Errorf("%d, want %d\n%s", r.code, tc.code, r.body)
			}
			if cc := r.header.Get("Cache-Control"); cc == "" || tc.code == 404 && cc != "no-cache" {
				t.Errorf("Cache-Control %q (a 404 must not be cached: a new hire's key would stay invisible)", cc)
			}
		})
	}
}

// An iHash for the organisation's CA would list everyone: above maxSearchResults it is refused.
func TestSearchRefusesAListing(t *testing.T) {
	f := newFixture(t, config.Lookup{})
	var entries []Entry
	now := time.Now()
	for i := range maxSearchResults + 1 {
		addr := "user" + string(rune('a'+i)) + "@corp.example"
		entries = append(entries, Entry{Addresses: []string{addr}, DER: [][]byte{f.ca.issue(t, addr, now)}})
	}
	f.srv.Swap(NewIndex(entries))
	keys, _, _ := x509Keys(f.ca.cert)
	r := f.get(t, "/search.cgi?iHash="+url.QueryEscape(SearchKey(keys[keySubject])))
	if r.code != http.StatusForbidden || bytes.Contains(r.body, []byte("corp.example")) {
		t.Errorf("%d %s, want 403", r.code, r.body)
	}
}

func TestNotReadyBeforeTheFirstIndex(t *testing.T) {
	log, _ := test.NewNullLogger()
	srv := NewServer(config.Lookup{RatePerSecond: 10, Burst: 10}, prometheus.NewRegistry(), log)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for _, path := range []string{"/certs/alice@corp.example", "/search.cgi?email=alice@corp.example"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %v", path, resp.StatusCode, resp.Header)
		}
	}
	if resp, err := http.Get(ts.URL + "/"); err != nil || resp.StatusCode != 200 {
		t.Errorf("the page: %v %v", resp, err)
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, config.Lookup{RatePerSecond: 0.5, Burst: 3})
	codes := map[int]int{}
	var limited response
	for range 6 {
		r := f.get(t, "/certs/alice@corp.example")
		codes[r.code]++
		if r.code == 429 {
			limited = r
		}
	}
	if codes[200] != 3 || codes[429] != 3 {
		t.Fatalf("codes %v, want 3 × 200 then 3 × 429", codes)
	}
	if ra := limited.header.Get("Retry-After"); (ra != "1" && ra != "2") || limited.header.Get("Cache-Control") != "no-store" {
		t.Errorf("429: Retry-After %q, Cache-Control %q", ra, limited.header.Get("Cache-Control"))
	}
	// The page and errors cost tokens too.
	if r := f.get(t, "/"); r.code != 429 {
		t.Errorf("the page: %d", r.code)
	}
}

func TestMetrics(t *testing.T) {
	f := newFixture(t, config.Lookup{})
	f.get(t, "/certs/alice@corp.example")
	f.get(t, "/certs/alice@corp.example")
	f.get(t, "/certs/nobody@corp.example")
	f.get(t, "/search.cgi?email=x")
	f.do(t, http.MethodPost, "/certs/alice@corp.example")
	f.get(t, "/")
	f.get(t, "/nothing")
	f.get(t, "/certs/alice@corp.example", "Accept", "text/plain")
	m := f.srv.metrics
	for _, tc := range []struct {
		endpoint, code string
		want           float64
	}{
		{"certs", "200", 2}, {"certs", "404", 1}, {"certs", "405", 1}, {"certs", "406", 1},
		{"search", "400", 1}, {"page", "200", 1}, {"other", "404", 1}, {"certs", "429", 0},
	} {
		if got := testutil.ToFloat64(m.requests.WithLabelValues(tc.endpoint, tc.code)); got != tc.want {
			t.Errorf("requests{%s,%s} = %v, want %v", tc.endpoint, tc.code, got, tc.want)
		}
	}
	n, err := testutil.GatherAndCount(f.reg, "certgal_lookup_request_duration_seconds")
	if err != nil || n != numEndpoints {
		t.Errorf("duration series: %d, %v", n, err)
	}
	// No label anywhere holds an address.
	mfs, _ := f.reg.Gather()
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if strings.Contains(l.GetValue(), "@") {
					t.Errorf("%s has label %s=%s", mf.GetName(), l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func TestSwapLogsNoAddresses(t *testing.T) {
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	srv := NewServer(config.Lookup{RatePerSecond: 1, Burst: 1}, prometheus.NewRegistry(), log)
	ca := newTestCA(t, "Corp S/MIME CA")
	srv.Swap(NewIndex([]Entry{{Addresses: []string{"alice@corp.example"}, DER: [][]byte{ca.issue(t, "alice@corp.example", time.Now())}}}))
	for _, e := range hook.AllEntries() {
		s, _ := e.String()
		if strings.Contains(s, "alice") {
			t.Errorf("log line holds an address: %s", s)
		}
	}
	if srv.Current() == nil || srv.Current().Stats().Addresses != 1 {
		t.Error("Current is not the swapped index")
	}
}

// TestRateLimitBehindAProxy: behind a trusted proxy each client has its own bucket; without
// lookup.trusted_proxies, X-Forwarded-For changes nothing (anyone could write it).
func TestRateLimitBehindAProxy(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []string
		want    []int
	}{
		{"trusted", []string{"127.0.0.1"}, []int{200, 429, 200, 200}},
		{"not configured", nil, []int{200, 429, 429, 429}},
	} {
		f := newFixture(t, config.Lookup{RatePerSecond: 0.001, Burst: 1, TrustedProxies: tc.proxies})
		var got []int
		for _, xff := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.2", "192.0.2.1, 192.0.2.3"} {
			got = append(got, f.get(t, "/certs/alice@corp.example", "X-Forwarded-For", xff).code)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: codes %v, want %v", tc.name, got, tc.want)
		}
	}
}
