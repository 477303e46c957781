package lookup

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// x509Keys is the search keys of a certificate crypto/x509 parsed.
func x509Keys(x *x509.Certificate) ([numKeys][20]byte, bool, error) {
	f, err := x509Fields(x)
	if err != nil {
		return [numKeys][20]byte{}, false, err
	}
	return f.searchKeys()
}

// newCertJSON is what the JSON format says of x, but its PEM.
func newCertJSON(x *x509.Certificate, sum [32]byte) certJSON {
	return certJSON{
		Subject:   x.Subject.String(),
		Issuer:    x.Issuer.String(),
		Serial:    strings.ToUpper(x.SerialNumber.Text(16)),
		NotBefore: x.NotBefore.UTC(),
		NotAfter:  x.NotAfter.UTC(),
		SHA256:    hex.EncodeToString(sum[:]),
	}
}

// preparedByX509 is what the index kept of a certificate while it parsed every one with
// crypto/x509 and marshalled its fields with encoding/json: prepare must give the same.
func preparedByX509(sum [32]byte, der []byte) (cert, []byte, bool) {
	x, err := x509.ParseCertificate(der)
	if err != nil {
		return cert{}, nil, false
	}
	keys, hasSKID, err := x509Keys(x)
	if err != nil {
		return cert{}, nil, false
	}
	elem, err := json.Marshal(newCertJSON(x, sum))
	if err != nil {
		return cert{}, nil, false
	}
	fields := elem[:len(elem)-len(jsonPEMEnd)]
	region := append(append([]byte(nil), der...), fields...)
	for _, key := range keys {
		region = append(region, key[:]...)
	}
	fs := sha256.Sum256(fields)
	ks := sha256.Sum256(region[len(der)+len(fields):])
	c := cert{sum: sum, fieldsSum: [8]byte(fs[:8]), keysSum: [8]byte(ks[:8]),
		notBefore: x.NotBefore.Unix(), notAfter: x.NotAfter.Unix(),
		hasSKID: hasSKID, der: uint32(len(der)), fields: uint32(len(fields))}
	for k, key := range keys {
		c.keys[k] = keyPrefix(key)
	}
	return c, region, true
}

// samePrepared checks prepare against preparedByX509 on der, read both ways (parsed or not);
// with readFields too, which must read a certificate x509 parses as x509 does or not at all.
// It returns whether readFields read der.
func samePrepared(t *testing.T, der []byte) bool {
	t.Helper()
	sum := sha256.Sum256(der)
	want, wantRegion, wantOK := preparedByX509(sum, der)
	for _, parsed := range []bool{false, true} {
		prefix := []byte("kept")
		var issuers *nameCache
		if parsed {
			issuers = &nameCache{}
			if _, _, ok := prepare(nil, sum, der, issuers); ok && len(issuers.names) == 0 && readable(der) {
				t.Fatal("the issuer's name was not kept")
			}
		}
		got, region, ok := prepare(bytes.Clone(prefix), sum, der, issuers) // the issuer's name from issuers
		if !bytes.HasPrefix(region, prefix) {
			t.Fatalf("parsed=%v: what dst held was overwritten", parsed)
		}
		region = region[len(prefix):]
		if !parsed && ok != wantOK {
			t.Fatalf("parsed=%v: prepare ok=%v, crypto/x509 %v on %x", parsed, ok, wantOK, der)
		}
		if !wantOK {
			continue // parsed=true may read what x509 refuses: Options.Parsed says it never comes
		}
		if !ok || got != want || !bytes.Equal(region, wantRegion) {
			t.Fatalf("parsed=%v: prepare gave\n%+v\n%q\nwant\n%+v\n%q", parsed, got, region, want, wantRegion)
		}
	}
	return readable(der)
}

// readable says whether readFields reads der.
func readable(der []byte) bool {
	var f certFields
	return readFields(der, &nameCache{}, &f)
}

// Certificates whose names and times take every way appendFields and readName have: the
// string types, characters JSON and RFC 4514 escape, several values in one RDN, attributes
// pkix.Name has no field for, a GeneralizedTime, a v1 certificate, large and odd serials.
func TestPrepareIsCryptoX509s(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	value := func(tag int, s string) asn1.RawValue {
		return asn1.RawValue{Tag: tag, Bytes: []byte(s)}
	}
	bmp := func(s string) asn1.RawValue {
		var b []byte
		for _, r := range s {
			b = append(b, byte(r>>8), byte(r))
		}
		return asn1.RawValue{Tag: asn1.TagBMPString, Bytes: b}
	}
	oidCN, oidO, oidEmail := asn1.ObjectIdentifier{2, 5, 4, 3}, asn1.ObjectIdentifier{2, 5, 4, 10}, asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	atv := func(oid asn1.ObjectIdentifier, v any) []pkix.AttributeTypeAndValue {
		return []pkix.AttributeTypeAndValue{{Type: oid, Value: v}}
	}
	for _, tc := range []struct {
		name    string
		subject pkix.Name
		raw     pkix.RDNSequence // the subject as encoded, when set
		serial  *big.Int
		from    time.Time
		read    bool // readFields reads it (else crypto/x509 does)
	}{
		{name: "plain", subject: pkix.Name{CommonName: "alice"}, read: true},
		{name: "escaped", subject: pkix.Name{CommonName: `A "B", <C> & D\E+F=G#H;`, Organization: []string{" lead", "trail "}}, read: true},
		{name: "unicode", subject: pkix.Name{CommonName: "Jürgen Ñoño \u2028\u2029 \x7f", Country: []string{"DE"}, Province: []string{"Bayern"},
			Locality: []string{"München"}, StreetAddress: []string{"Straße 1"}, PostalCode: []string{"80331"}, SerialNumber: "42",
			OrganizationalUnit: []string{"A", "B"}}, read: true},
		{name: "extra names", subject: pkix.Name{CommonName: "bob", ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: oidEmail, Value: "bob@corp.example"}, {Type: asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, Value: "corp"}}}, read: true},
		{name: "multi-valued RDN", raw: pkix.RDNSequence{{{Type: oidCN, Value: "carol"}, {Type: oidO, Value: "Corp"}}, atv(oidEmail, value(asn1.TagIA5String, "c@corp.example"))}, read: true},
		{name: "printable and utf8", raw: pkix.RDNSequence{atv(oidCN, value(asn1.TagPrintableString, "dave*&")), atv(oidO, value(asn1.TagUTF8String, "Ärger"))}, read: true},
		{name: "T61String", raw: pkix.RDNSequence{atv(oidCN, value(asn1.TagT61String, "caf\xe9"))}},
		{name: "BMPString", raw: pkix.RDNSequence{atv(oidCN, bmp("Zoë"))}},
		{name: "NumericString", raw: pkix.RDNSequence{atv(oidCN, value(asn1.TagNumericString, "0123 45"))}},
		{name: "empty subject", subject: pkix.Name{}, read: true},
		{name: "large serial", subject: pkix.Name{CommonName: "erin"}, serial: new(big.Int).Lsh(big.NewInt(0xabcdef), 140), read: true},
		{name: "serial 0", subject: pkix.Name{CommonName: "fay"}, serial: big.NewInt(0), read: true},
		{name: "GeneralizedTime", subject: pkix.Name{CommonName: "gus"}, from: time.Date(2050, 1, 2, 3, 4, 5, 0, time.UTC), read: true},
		{name: "zone", subject: pkix.Name{CommonName: "hal"}, from: time.Date(2030, 6, 1, 12, 0, 0, 0, time.FixedZone("x", 5*3600)), read: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl := &x509.Certificate{
				SerialNumber: cmpOr(tc.serial, big.NewInt(77)),
				Subject:      tc.subject,
				NotBefore:    cmpOrTime(tc.from, time.Now().Truncate(time.Second)),
				ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
			}
			tmpl.NotAfter = tmpl.NotBefore.Add(24 * time.Hour)
			if tc.raw != nil {
				raw, err := asn1.Marshal(tc.raw)
				if err != nil {
					t.Fatal(err)
				}
				tmpl.RawSubject = raw
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
			if err != nil {
				t.Fatal(err)
			}
			if read := samePrepared(t, der); read != tc.read {
				t.Errorf("readFields read it: %v, want %v", read, tc.read)
			}
		})
	}
	// The CA's own certificate (no subject key identifier, a different issuer).
	samePrepared(t, ca.cert.Raw)
	samePrepared(t, ca.issue(t, "ivy@corp.example", time.Now()))
}

func cmpOr(v, def *big.Int) *big.Int {
	if v != nil {
		return v
	}
	return def
}

func cmpOrTime(v, def time.Time) time.Time {
	if !v.IsZero() {
		return v
	}
	return def
}

// What is no certificate, or a certificate cut short or with a byte more, is refused as
// crypto/x509 refuses it; readFields refuses the values that are no certificate.
func TestPrepareRefuses(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	der := ca.issue(t, "alice@corp.example", time.Now())
	for _, v := range [][]byte{nil, []byte("b"), der[:len(der)-1], append(bytes.Clone(der), 0)} {
		samePrepared(t, v)
		if readable(v) {
			t.Errorf("readFields read %q", v)
		}
	}
}

// The certificates of a CA store, given in CERTGAL_LOOKUP_CERTS (directories of PEM files,
// separated by colons): the bench world's and the test PKI's are checked this way by hand
// (docs/BENCHMARKS.md, "The lookup's rebuild without crypto/x509").
func TestPrepareIsCryptoX509sOnFiles(t *testing.T) {
	dirs := os.Getenv("CERTGAL_LOOKUP_CERTS")
	files := testdataPEMs()
	for _, d := range filepath.SplitList(dirs) {
		more, err := filepath.Glob(filepath.Join(d, "*.pem"))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, more...)
	}
	n, read := 0, 0
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
			if blk.Type == "CERTIFICATE" {
				n++
				if samePrepared(t, blk.Bytes) {
					read++
				}
			}
		}
	}
	t.Logf("%d certificates from %d files, %d read without crypto/x509", n, len(files), read)
	if n == 0 {
		t.Fatal("no certificate in testdata")
	}
}

// FuzzPrepare: on any bytes, prepare refuses what crypto/x509 refuses and, with Parsed, gives
// what it gave for whatever crypto/x509 parses.
func FuzzPrepare(f *testing.F) {
	files := testdataPEMs()
	for _, name := range files {
		b, _ := os.ReadFile(name)
		for blk, rest := pem.Decode(b); blk != nil; blk, rest = pem.Decode(rest) {
			f.Add(blk.Bytes)
		}
	}
	f.Fuzz(func(t *testing.T, der []byte) { samePrepared(t, der) })
}

// testdataPEMs is the repository's PEM files.
func testdataPEMs() []string {
	a, _ := filepath.Glob("../testdata/*/*.pem")
	b, _ := filepath.Glob("../testdata/*/*/*.pem")
	return append(a, b...)
}
