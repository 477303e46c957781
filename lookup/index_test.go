package lookup

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/certgal/certgal/internal/asn1len"
)

// view is what an address resolves to, in the bytes and strings served, for the tests to
// read: the index itself keeps numbers and offsets.
type view struct {
	certs []certView // newest first
	reps  [numFormats]viewRep
}

type certView struct{ self *view }

type viewRep struct {
	segs [][]byte
	etag []string
}

func body(r *viewRep) []byte { return bytes.Join(r.segs, nil) }

// lookupView is ix.lookupAddr as a view; nil when the address has no certificate.
func lookupView(ix *Index, addr string) *view {
	sn, ok := ix.lookupAddr(addr)
	if !ok {
		return nil
	}
	v := viewOf(ix, sn)
	for _, n := range ix.setCerts(sn) {
		v.certs = append(v.certs, certView{self: viewOf(ix, n)})
	}
	return v
}

// viewOf renders set sn in every format, as the handlers do.
func viewOf(ix *Index, sn uint32) *view {
	v := &view{}
	for f := range numFormats {
		_, b, err := ix.appendBody(nil, sn, f)
		if err != nil {
			panic(err)
		}
		sum := ix.setSum(sn)
		if f == fmtDER {
			sum = ix.certs[ix.setCerts(sn)[0]].sum
		}
		v.reps[f] = viewRep{segs: [][]byte{b}, etag: etagHeader(sum, formatLetters[f])}
	}
	return v
}

func TestIndexLookupFoldsASCIIOnly(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	der := ca.issue(t, "alice@corp.example", time.Now().Add(-time.Hour))
	ix := NewIndex([]Entry{{Addresses: []string{"Alice@Corp.Example", "a.smith@corp.example"}, DER: [][]byte{der}}})

	for _, addr := range []string{"alice@corp.example", "ALICE@CORP.EXAMPLE", "A.Smith@corp.example"} {
		s := lookupView(ix, addr)
		if s == nil || !bytes.Equal(body(&s.reps[fmtDER]), der) {
			t.Errorf("%s: not found", addr)
		}
	}
	// Not folded: Unicode case (K is KELVIN SIGN), look-alikes, prefixes, surrounding space.
	for _, addr := range []string{"alice@corp.exampl", "alice", "@corp.example", "alİce@corp.example", "alice@corp.e\u212axample", " alice@corp.example"} {
		if lookupView(ix, addr) != nil {
			t.Errorf("%q found", addr)
		}
	}
	if st := ix.Stats(); st.Addresses != 2 || st.Certificates != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestIndexLeavesOutAmbiguousAndBroken(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	now := time.Now()
	a := ca.issue(t, "shared@corp.example", now)
	b := ca.issue(t, "bob@corp.example", now)
	ix := NewIndex([]Entry{
		{Addresses: []string{"shared@corp.example", "one@corp.example"}, DER: [][]byte{a}},
		{Addresses: []string{"SHARED@corp.example", "bob@corp.example"}, DER: [][]byte{b, []byte("not a certificate")}},
		{Addresses: []string{"nocert@corp.example"}},
	})
	if lookupView(ix, "shared@corp.example") != nil {
		t.Error("an address in two entries is served")
	}
	if lookupView(ix, "one@corp.example") == nil || lookupView(ix, "bob@corp.example") == nil {
		t.Error("the entries' other addresses are lost")
	}
	if lookupView(ix, "nocert@corp.example") != nil {
		t.Error("an entry without certificates is served")
	}
	if st := ix.Stats(); st.Ambiguous != 1 || st.Unparseable != 1 || st.Certificates != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestIndexSeveralCertificatesNewestFirst(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	now := time.Now().Truncate(time.Second)
	old := ca.issue(t, "alice@corp.example", now.Add(-48*time.Hour))
	renewed := ca.issue(t, "alice@corp.example", now.Add(-time.Hour))
	ix := NewIndex([]Entry{{Addresses: []string{"alice@corp.example"}, DER: [][]byte{old, renewed, old}}})
	s := lookupView(ix, "alice@corp.example")
	if len(s.certs) != 2 {
		t.Fatalf("%d certificates, want 2 (a duplicate value counts once)", len(s.certs))
	}
	if !bytes.Equal(body(&s.reps[fmtDER]), renewed) {
		t.Error("DER is not the newest certificate")
	}
	blocks := pemBlocks(t, body(&s.reps[fmtPEM]))
	if len(blocks) != 2 || !bytes.Equal(blocks[0], renewed) || !bytes.Equal(blocks[1], old) {
		t.Error("PEM does not hold both, newest first")
	}
	var doc struct{ Certificates []certJSON }
	if err := json.Unmarshal(body(&s.reps[fmtJSON]), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Certificates) != 2 || !doc.Certificates[0].NotBefore.Equal(now.Add(-time.Hour)) {
		t.Errorf("JSON %+v", doc)
	}
	if got := p7cCerts(t, body(&s.reps[fmtP7C])); len(got) != 2 {
		t.Errorf("p7c holds %d certificates", len(got))
	}
	// The same set in another order is the same response.
	ix2 := NewIndex([]Entry{{Addresses: []string{"alice@corp.example"}, DER: [][]byte{renewed, old}}})
	for f := range numFormats {
		if a, b := s.reps[f], lookupView(ix2, "alice@corp.example").reps[f]; a.etag[0] != b.etag[0] || !bytes.Equal(body(&a), body(&b)) {
			t.Errorf("format %d depends on the order of the values", f)
		}
	}
	etags := map[string]bool{}
	for f := range numFormats {
		etags[s.reps[f].etag[0]] = true
	}
	etags[s.certs[0].self.reps[fmtPEM].etag[0]] = true
	if got := p7cCerts(t, body(&s.certs[0].self.reps[fmtP7C])); len(got) != 1 {
		t.Errorf("a certificate's own p7c holds %d", len(got))
	}
	if len(etags) != numFormats+1 {
		t.Errorf("ETags are not distinct per representation: %v", etags)
	}
}

func TestIndexRebuildReusesPreparedCertificates(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	now := time.Now()
	a := ca.issue(t, "alice@corp.example", now)
	b := ca.issue(t, "bob@corp.example", now)
	c := ca.issue(t, "carol@corp.example", now)
	first := NewIndex([]Entry{
		{Addresses: []string{"alice@corp.example"}, DER: [][]byte{a}},
		{Addresses: []string{"bob@corp.example"}, DER: [][]byte{b}},
	})
	// Bob's certificate is revoked, Carol gets one; Alice's value arrives as a new slice.
	second := first.Rebuild([]Entry{
		{Addresses: []string{"alice@corp.example"}, DER: [][]byte{bytes.Clone(a)}},
		{Addresses: []string{"carol@corp.example"}, DER: [][]byte{c}},
	})
	if st := second.Stats(); st.Reused != 1 || st.Certificates != 2 {
		t.Errorf("stats %+v, want 1 reused of 2", st)
	}
	a1, a2 := lookupView(first, "alice@corp.example"), lookupView(second, "alice@corp.example")
	for f := range numFormats {
		if a1.reps[f].etag[0] != a2.reps[f].etag[0] || !bytes.Equal(body(&a1.reps[f]), body(&a2.reps[f])) {
			t.Errorf("Alice's reused certificate is served differently in format %d", f)
		}
	}
	if lookupView(second, "bob@corp.example") != nil {
		t.Error("Bob is still served")
	}
	bx, _ := x509.ParseCertificate(b)
	if got, _, err := second.lookupKey(nil, nil, keyCert, sha1.Sum(bx.Raw)); len(got) != 0 || err != nil {
		t.Errorf("Bob's certificate is still searchable: %v, %v", got, err)
	}
	if lookupView(first, "bob@corp.example") == nil {
		t.Error("Rebuild changed the previous index")
	}

	// The same entries again (new slices, addresses in another case): the same index, no
	// second copy; any difference, down to one address, builds a new one.
	same := []Entry{
		{Addresses: []string{"Alice@corp.example"}, DER: [][]byte{bytes.Clone(a)}},
		{Addresses: []string{"carol@corp.example"}, DER: [][]byte{bytes.Clone(c)}},
	}
	if second.Rebuild(same) != second {
		t.Error("the same entries built a new index")
	}
	same[1].Addresses = []string{"carol@corp.example", "c@corp.example"}
	if third := second.Rebuild(same); third == second || lookupView(third, "c@corp.example") == nil {
		t.Error("an address more was not taken up")
	}
}

// The RFC 4387 hashes, computed independently of searchKeys: asn1.Marshal re-encodes, which
// for these Go-made certificates gives the same bytes.
func TestSearchKeysRFC4387(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	der := ca.issue(t, "alice@corp.example", time.Now())
	x, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keys, hasSKID, err := x509Keys(x)
	if err != nil || !hasSKID {
		t.Fatalf("searchKeys: %v, SKID %v", err, hasSKID)
	}
	iands, err := asn1.Marshal(struct {
		Issuer asn1.RawValue
		Serial *big.Int
	}{asn1.RawValue{FullBytes: x.RawIssuer}, x.SerialNumber})
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := asn1.Marshal(x.Subject.ToRDNSequence())
	want := map[int][20]byte{
		keyCert:    sha1.Sum(der),
		keySubject: sha1.Sum(subject),
		keyIssuer:  sha1.Sum(ca.cert.RawSubject),
		keyIAndS:   sha1.Sum(iands),
		keySKID:    sha1.Sum(x.SubjectKeyId),
	}
	for k, w := range want {
		if keys[k] != w {
			t.Errorf("%s = %s, want %s", searchAttrs[k], SearchKey(keys[k]), SearchKey(w))
		}
		if s := SearchKey(keys[k]); len(s) != searchKeyLen || strings.ContainsAny(s, "=") {
			t.Errorf("%s search key %q", searchAttrs[k], s)
		}
		if got, ok := parseSearchKey(SearchKey(keys[k])); !ok || got != keys[k] {
			t.Errorf("%s does not round-trip", searchAttrs[k])
		}
	}
}

func TestP7CIsACertsOnlySignedData(t *testing.T) {
	ca := newTestCA(t, "Corp S/MIME CA")
	now := time.Now()
	ders := [][]byte{ca.issue(t, "alice@corp.example", now), ca.issue(t, "alice@corp.example", now.Add(-time.Hour))}
	for n := 1; n <= 2; n++ {
		p7 := bytes.Join(p7cSegments(ders[:n]), nil)
		got := p7cCerts(t, p7)
		if len(got) != n {
			t.Fatalf("%d certificates in, %d out", n, len(got))
		}
		for _, g := range got {
			if !bytes.Equal(g, ders[0]) && !bytes.Equal(g, ders[1]) {
				t.Error("p7c holds a certificate that was not put in")
			}
		}
		opensslReadsP7C(t, p7, n)
	}
	// Lengths that need two and three length octets.
	for _, n := range []int{0x7f, 0x80, 0xff, 0x100, 0xffff, 0x10000} {
		l := asn1len.Append(nil, n)
		var v asn1.RawValue
		enc := append([]byte{0x04}, l...)
		enc = append(enc, make([]byte, n)...)
		if rest, err := asn1.Unmarshal(enc, &v); err != nil || len(rest) != 0 || len(v.Bytes) != n {
			t.Errorf("length %d: %x: %v", n, l, err)
		}
	}
}

// p7cCerts decodes a certs-only SignedData with encoding/asn1 and returns its certificates.
func p7cCerts(t *testing.T, p7 []byte) [][]byte {
	t.Helper()
	var ci struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue `asn1:"explicit,tag:0"`
	}
	if rest, err := asn1.Unmarshal(p7, &ci); err != nil || len(rest) != 0 {
		t.Fatalf("ContentInfo: %v (%d bytes left)", err, len(rest))
	}
	if !ci.ContentType.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}) {
		t.Fatalf("content type %v", ci.ContentType)
	}
	var sd struct {
		Version          int
		DigestAlgorithms asn1.RawValue `asn1:"set"`
		Encap            struct{ Type asn1.ObjectIdentifier }
		Certificates     asn1.RawValue `asn1:"optional,tag:0"`
		SignerInfos      asn1.RawValue `asn1:"set"`
	}
	if rest, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil || len(rest) != 0 {
		t.Fatalf("SignedData: %v", err)
	}
	if sd.Version != 1 || !sd.Encap.Type.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}) || len(sd.SignerInfos.Bytes) != 0 {
		t.Fatalf("SignedData %+v", sd)
	}
	var out [][]byte
	for rest := sd.Certificates.Bytes; len(rest) > 0; {
		var raw asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &raw); err != nil {
			t.Fatal(err)
		}
		if _, err := x509.ParseCertificate(raw.FullBytes); err != nil {
			t.Fatal(err)
		}
		out = append(out, raw.FullBytes)
	}
	return out
}

// opensslReadsP7C checks the p7c with `openssl pkcs7` when openssl is installed (it is
// wherever the integration tests run).
func opensslReadsP7C(t *testing.T, p7 []byte, want int) {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Log("openssl not installed: p7c checked with encoding/asn1 only")
		return
	}
	path := filepath.Join(t.TempDir(), "certs.p7c")
	if err := os.WriteFile(path, p7, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("openssl", "pkcs7", "-inform", "DER", "-in", path, "-print_certs").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs7: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "BEGIN CERTIFICATE"); n != want {
		t.Errorf("openssl reads %d certificates, want %d\n%s", n, want, out)
	}
}

func pemBlocks(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		out = append(out, blk.Bytes)
	}
	if len(bytes.TrimSpace(b)) != 0 {
		t.Errorf("trailing bytes after PEM: %q", b)
	}
	return out
}

// The index is a handful of heap objects however many certificates it holds: the garbage
// collector marks every object of the live heap in every cycle, while requests wait.
func TestIndexIsAFewHeapObjects(t *testing.T) {
	const n = 1000
	ca := newTestCA(t, "Corp S/MIME CA")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	entries := make([]Entry, n)
	for i := range entries {
		addr := fmt.Sprintf("user%d@corp.example", i)
		entries[i] = Entry{Addresses: []string{addr}, DER: [][]byte{ca.issueKey(t, addr, now, key)}}
	}
	// Two certificates for one address: a set of several.
	entries[0].DER = append(entries[0].DER, ca.issueKey(t, "user0@corp.example", now.Add(-time.Hour), key))

	objects := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapObjects
	}
	ix := NewIndex(entries)
	ix = ix.Rebuild(entries)
	before := objects()
	runtime.KeepAlive(entries)
	entries = nil
	withIndex := objects()
	runtime.KeepAlive(ix)
	ix = nil
	without := objects()
	t.Logf("%d certificates: %d heap objects with the index, %d without", n, withIndex, without)
	if withIndex < without || withIndex-without > n/10 {
		t.Errorf("the index of %d certificates is %d heap objects (%d with the entries), want a few", n, int64(withIndex)-int64(without), before)
	}
}
