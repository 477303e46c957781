package lookup

import (
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/config"
)

// What answering one request costs in certgal's handler, over the benchmark's 20,000 users,
// with an address (or key) picked in turn.
func BenchmarkServe(b *testing.B) {
	entries := benchEntries(b)
	log, _ := test.NewNullLogger()
	srv := NewServer(config.Lookup{RatePerSecond: 1e12, Burst: 1 << 40}, prometheus.NewRegistry(), log)
	srv.Swap(NewIndex(entries))
	certHash := func(i int) string {
		x, err := x509.ParseCertificate(entries[i].DER[0])
		if err != nil {
			b.Fatal(err)
		}
		h := sha1.Sum(x.Raw)
		return url.QueryEscape(base64.RawStdEncoding.EncodeToString(h[:]))
	}
	const n = 512
	for _, tc := range []struct {
		name   string
		target func(i int) string
	}{
		{"der", func(i int) string { return "/certs/" + entries[i].Addresses[0] }},
		{"pem", func(i int) string { return "/certs/" + entries[i].Addresses[0] + "?format=pem" }},
		{"p7c", func(i int) string { return "/certs/" + entries[i].Addresses[0] + "?format=p7c" }},
		{"json", func(i int) string { return "/certs/" + entries[i].Addresses[0] + "?format=json" }},
		{"search-certHash", func(i int) string { return "/search.cgi?certHash=" + certHash(i) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			reqs := make([]*http.Request, n)
			hs := make([]http.Handler, n)
			for i := range reqs {
				r := httptest.NewRequest(http.MethodGet, tc.target((i*37)%len(entries)), nil)
				r.RemoteAddr = "192.0.2.1:4711"
				hs[i], _ = srv.handler.(*http.ServeMux).Handler(r)
				w := &discard{h: http.Header{}}
				srv.handler.ServeHTTP(w, r) // sets the path values
				if w.code != http.StatusOK {
					b.Fatal(fmt.Sprint(tc.name, w.code))
				}
				reqs[i] = r
			}
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				clear(w.h)
				hs[i%n].ServeHTTP(w, reqs[i%n])
			}
		})
	}
}
