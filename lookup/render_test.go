package lookup

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/config"
)

// marshalled is what the index served as PEM and JSON while it kept them prepared:
// pem.EncodeToMemory and json.Marshal of each certificate, newest first, joined.
func marshalled(t *testing.T, ders [][]byte) (pemBody, jsonBody []byte) {
	t.Helper()
	jsonBody = []byte(jsonHead)
	for i, der := range ders {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		pemBody = append(pemBody, p...)
		fields := newCertJSON(x, sha256.Sum256(der))
		fields.PEM = string(p)
		elem, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			jsonBody = append(jsonBody, ',')
		}
		jsonBody = append(jsonBody, elem...)
	}
	return pemBody, append(jsonBody, jsonTail...)
}

// issueSubject makes a certificate whose subject needs escaping in JSON.
func issueSubject(t *testing.T, ca *testCA, cn string, notBefore time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"Corp & <Partners>"}},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(365 * 24 * time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestRenderedBodiesAreTheMarshalledOnes(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	now := time.Now().Truncate(time.Second)
	ders := [][]byte{ // newest first
		ca.issue(t, "alice@corp.example", now),
		issueSubject(t, ca, "Alice \"Ally\" Müller\u2028", now.Add(-time.Hour)),
		ca.issue(t, "alice@corp.example", now.Add(-2*time.Hour)),
	}
	log, _ := test.NewNullLogger()
	for n := 1; n <= len(ders); n++ {
		srv := NewServer(config.Lookup{RatePerSecond: 1e9, Burst: 1 << 30}, prometheus.NewRegistry(), log)
		ix := NewIndex([]Entry{{Addresses: []string{"alice@corp.example"}, DER: ders[:n]}})
		srv.Swap(ix)
		wantPEM, wantJSON := marshalled(t, ders[:n])

		// Every format's body is as long as the Content-Length computed without it, which the
		// index's table holds.
		sn, _ := ix.lookupAddr("alice@corp.example")
		for f := range numFormats {
			_, b, err := ix.appendBody(nil, sn, f)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(b), ix.lengths.header(ix.bodyLen(sn, f))[0]; strconv.Itoa(got) != want {
				t.Errorf("%d certificates, format %d: %d bytes, Content-Length %s", n, f, got, want)
			}
			if _, ok := slices.BinarySearch(ix.lengths.n, len(b)); !ok {
				t.Errorf("%d certificates, format %d: the length %d is not in the table", n, f, len(b))
			}
		}

		for _, tc := range []struct {
			format string
			want   []byte
		}{{"pem", wantPEM}, {"json", wantJSON}} {
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				w := httptest.NewRecorder()
				srv.handler.ServeHTTP(w, httptest.NewRequest(method, "/certs/alice@corp.example?format="+tc.format, nil))
				name := strconv.Itoa(n) + " certificates, " + method + " " + tc.format
				if w.Code != http.StatusOK {
					t.Fatalf("%s: status %d", name, w.Code)
				}
				if got := w.Header().Get("Content-Length"); got != strconv.Itoa(len(tc.want)) {
					t.Errorf("%s: Content-Length %s, want %d", name, got, len(tc.want))
				}
				want := tc.want
				if method == http.MethodHead {
					want = nil
				}
				if !bytes.Equal(w.Body.Bytes(), want) {
					t.Errorf("%s: body\n%s\nwant\n%s", name, w.Body.Bytes(), want)
				}
			}
		}
	}
}

// Every length of DER, across the 48-byte lines and their ends, in PEM and as a JSON string.
func TestAppendPEM(t *testing.T) {
	der := make([]byte, 200)
	if _, err := rand.Read(der); err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= len(der); n++ {
		want := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der[:n]})
		if got := appendPEM(nil, der[:n], "\n"); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes:\n%s\nwant\n%s", n, got, want)
		}
		if got := pemLen(n, "\n"); got != len(want) {
			t.Errorf("%d bytes: pemLen %d, want %d", n, got, len(want))
		}
		quoted, _ := json.Marshal(string(want))
		want = quoted[1 : len(quoted)-1]
		if got := appendPEM(nil, der[:n], `\n`); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes in JSON:\n%s\nwant\n%s", n, got, want)
		}
		if got := pemLen(n, `\n`); got != len(want) {
			t.Errorf("%d bytes in JSON: pemLen %d, want %d", n, got, len(want))
		}
	}
}
