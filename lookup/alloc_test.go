package lookup

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/config"
)

// discard is a ResponseWriter that keeps nothing, so that what a request allocates is the
// handler's own doing.
type discard struct {
	h    http.Header
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(code int)        { d.code = code }

// Serving a certificate allocates one object in certgal's code, its ETag value (etagHeader):
// the metric handles and Content-Length values are prepared, and the bodies are read and
// rendered into a pooled buffer.
func TestServeCertsAllocatesOnlyTheETag(t *testing.T) {
	log, _ := test.NewNullLogger()
	srv := NewServer(config.Lookup{RatePerSecond: 1e9, Burst: 1 << 30}, prometheus.NewRegistry(), log)
	ca := newTestCA(t, "Corp S/MIME CA")
	now := time.Now()
	srv.Swap(NewIndex([]Entry{
		{Addresses: []string{"alice@corp.example"}, DER: [][]byte{ca.issue(t, "alice@corp.example", now)}},
		{Addresses: []string{"bob@corp.example"}, DER: [][]byte{ca.issue(t, "bob@corp.example", now), ca.issue(t, "bob@corp.example", now.Add(-time.Hour))}},
	}))
	w := &discard{h: http.Header{}}
	for _, tc := range []struct {
		name, target string
		header       []string
	}{
		{"der", "/certs/alice@corp.example", nil},
		{"pem", "/certs/alice@corp.example?format=pem", nil},
		{"json by Accept", "/certs/alice@corp.example", []string{"Accept", "application/json"}},
		{"pem of several", "/certs/bob@corp.example?format=pem", nil},
		{"json of several", "/certs/bob@corp.example?format=json", nil},
		{"p7c of several", "/certs/bob@corp.example?format=p7c", nil},
		{"etag", "/certs/alice@corp.example", []string{"If-None-Match", `"x", "y"`}},
		{"search", "/search.cgi?email=alice@corp.example", nil},
	} {
		r := httptest.NewRequest(http.MethodGet, tc.target, nil)
		r.RemoteAddr = "192.0.2.1:4711"
		for i := 0; i+1 < len(tc.header); i += 2 {
			r.Header.Set(tc.header[i], tc.header[i+1])
		}
		// The mux sets the path values on the request: route once, then call the endpoint.
		h, _ := srv.handler.(*http.ServeMux).Handler(r)
		srv.handler.ServeHTTP(w, r)
		allocs := testing.AllocsPerRun(200, func() {
			clear(w.h)
			h.ServeHTTP(w, r)
		})
		if w.code != http.StatusOK {
			t.Errorf("%s: status %d", tc.name, w.code)
		}
		if allocs != 1 {
			t.Errorf("%s: %v allocations per request", tc.name, allocs)
		}
	}
}
