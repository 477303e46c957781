package sync

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/certsource"
)

// unparsedSource hands its certificates over as a fresh process's OpenSSL
// source does: unparsed, each one through inspect.
type unparsedSource struct{ snap *certsource.Snapshot }

func (s unparsedSource) Read(context.Context) (*certsource.Snapshot, error) { return s.snap, nil }

func (s unparsedSource) ReadUnparsed(_ context.Context, inspect certsource.Inspect) (*certsource.Snapshot, error) {
	out := &certsource.Snapshot{Revocations: s.snap.Revocations}
	for _, c := range s.snap.Certificates {
		if _, err := inspect(c.DER(), c.Hash); err != nil {
			return nil, err
		}
		cp := *c
		cp.Cert = nil
		out.Certificates = append(out.Certificates, &cp)
	}
	return out, nil
}

// AppendDER finds c in the snapshot by hash, as the OpenSSL source reads its file again.
func (s unparsedSource) AppendDER(dst []byte, c *certsource.Certificate) ([]byte, error) {
	for _, sc := range s.snap.Certificates {
		if sc.Hash == c.Hash {
			return append(dst, sc.DER()...), nil
		}
	}
	return dst, fmt.Errorf("%x: not in the store", c.Hash[:4])
}

// cacheWorld is a store and a directory with one certificate of every kind the
// classifier tells apart.
func cacheWorld(t *testing.T) (trust *certsource.Trust, src unparsedSource, entries map[string]*Entry) {
	t.Helper()
	ca, partner := newTestCA(t, "Corp Issuing CA"), newTestCA(t, "Partner CA")
	copycat := newTestCA(t, "Corp Issuing CA") // our CA's name, another key
	day := 24 * time.Hour
	current := ca.issue(t, leaf{serial: 1, emails: []string{"alice@corp.example"}, notBefore: now.Add(-day)})
	old := ca.issue(t, leaf{serial: 2, emails: []string{"alice@corp.example"}, notBefore: now.Add(-300 * day)})
	revoked := ca.issue(t, leaf{serial: 3, emails: []string{"Bob@corp.example"}})
	expired := ca.issue(t, leaf{serial: 4, emails: []string{"carol@corp.example"}, notBefore: now.Add(-400 * day), notAfter: now.Add(-30 * day)})
	tls := ca.issue(t, leaf{serial: 5, emails: []string{"dave@corp.example"}, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	rsaCert := ca.issue(t, leaf{serial: 6, emails: []string{"erin@corp.example", "e@corp.example"}, rsa: true})
	foreign := partner.issue(t, leaf{serial: 7, emails: []string{"erin@corp.example"}})
	fake := copycat.issue(t, leaf{serial: 8, emails: []string{"erin@corp.example"}})
	snap := &certsource.Snapshot{Revocations: []certsource.Revocation{}}
	for _, x := range []*x509.Certificate{current, old, revoked, expired, tls, rsaCert} {
		snap.Certificates = append(snap.Certificates, certsource.NewCertificate(x, "test"))
	}
	snap.Certificates[2].Status = certsource.StatusRevoked
	entries = map[string]*Entry{
		"cn=alice": {DN: "cn=alice", Addresses: []string{"alice@corp.example"}, Certificates: [][]byte{old.Raw}},
		"cn=bob":   {DN: "cn=bob", Addresses: []string{"bob@corp.example"}, Certificates: [][]byte{revoked.Raw}},
		"cn=carol": {DN: "cn=carol", Addresses: []string{"carol@corp.example"}, Certificates: [][]byte{expired.Raw}},
		"cn=dave":  {DN: "cn=dave", Addresses: []string{"dave@corp.example"}},
		"cn=erin": {DN: "cn=erin", Addresses: []string{"erin@corp.example"},
			Certificates: [][]byte{foreign.Raw, fake.Raw, []byte("not a certificate")}},
	}
	return certsource.NewTrust([]*x509.Certificate{ca.cert}), unparsedSource{snap}, entries
}

// cachePass runs a dry-run pass of a new Syncer (a new process) with its file
// cache in dir, on a copy of entries.
func cachePass(t *testing.T, trust *certsource.Trust, src certsource.Source, entries map[string]*Entry, dir string) (*Syncer, string, *test.Hook) {
	t.Helper()
	d := &memDir{entries: map[string]*Entry{}}
	for dn, e := range entries {
		cp := *e
		d.entries[dn] = &cp
	}
	log, hook := test.NewNullLogger()
	log.SetLevel(logrus.DebugLevel)
	s := NewSyncer(src, d, trust, Policy{MaxValues: 15, MaxDeletes: 100, ExpiredGrace: 24 * time.Hour}, log, NewMetrics(prometheus.NewRegistry()))
	s.now = func() time.Time { return now }
	s.CacheDir = dir
	res, err := s.Pass(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	var plan bytes.Buffer
	if err := res.Plan.WriteJSON(&plan); err != nil {
		t.Fatal(err)
	}
	return s, plan.String(), hook
}

// TestFileCacheIsClassify: a new process that finds the file cache plans
// exactly as one that classified everything itself, holds the same Cert for
// every certificate (DER included), and parses and verifies none of them.
func TestFileCacheIsClassify(t *testing.T) {
	trust, src, entries := cacheWorld(t)
	dir := filepath.Join(t.TempDir(), "cache")

	first, want, _ := cachePass(t, trust, src, entries, dir)
	if first.classes.Fresh() != 0 {
		t.Errorf("after the first pass %d certificates are not in the file", first.classes.Fresh())
	}
	st, err := os.Stat(cacheFileName(dir, trust))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("file cache mode %v, want 0600", st.Mode().Perm())
	}
	if dst, _ := os.Stat(dir); dst.Mode().Perm() != 0o700 {
		t.Errorf("cache directory mode %v, want 0700", dst.Mode().Perm())
	}

	// What a process killed while writing left behind goes with the next
	// save; a file another process may still be writing stays.
	stale, fresh := filepath.Join(dir, ".classified-1"), filepath.Join(dir, ".classified-2")
	for _, f := range []string{stale, fresh} {
		if err := os.WriteFile(f, []byte("half a file"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(stale, time.Now().Add(-time.Hour), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := first.classes.SaveFile(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("a temporary file an hour old was left")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a temporary file of now was removed: %v", err)
	}

	second, got, _ := cachePass(t, trust, src, entries, dir)
	if got != want {
		t.Fatalf("plan with the file cache:\n%s\nwithout:\n%s", got, want)
	}
	if n := second.classes.Fresh(); n != 0 {
		t.Errorf("with the file cache %d certificates were classified again", n)
	}
	if first.classes.certs.len() != second.classes.certs.len() || first.classes.certs.len() != 9 {
		t.Fatalf("classified %d and %d certificates, want 9 (6 in the store, 3 more values)", first.classes.certs.len(), second.classes.certs.len())
	}
	first.classes.certs.each(func(want *Cert) {
		if got := second.classes.certs.get(want.Hash); !reflect.DeepEqual(got, want) {
			t.Errorf("certificate %x:\nfrom the file %+v\nclassified   %+v", want.Hash[:8], got, want)
		}
	})

	// The same file under another trust set is not used.
	other := certsource.NewTrust([]*x509.Certificate{newTestCA(t, "Other CA").cert})
	if cacheFileName(dir, other) == cacheFileName(dir, trust) {
		t.Fatal("two trust sets share a file name")
	}
	if n, err := NewClassifier(other).LoadFile(dir); n != 0 || err != nil {
		t.Errorf("another trust set loaded %d entries, %v", n, err)
	}
}

// TestFileCacheDamagedIsIgnored: a file that does not decode (a disk full, a
// crash in the middle of a copy) is reported and the pass classifies what it
// needs itself; the next save replaces the file.
func TestFileCacheDamagedIsIgnored(t *testing.T) {
	trust, src, entries := cacheWorld(t)
	dir := t.TempDir()
	_, want, _ := cachePass(t, trust, src, entries, dir)
	path := cacheFileName(dir, trust)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(data)
	flipped[len(flipped)-3] ^= 1 // inside the last address

	// A bit flipped in the first entry's hash decodes as well as the file
	// did: the body is read as it decodes, and its checksum, checked at the
	// end, must still refuse it.
	off := cacheHeaderLen
	issuers, k := binary.Uvarint(data[off:])
	for off += k; issuers > 0; issuers-- {
		l, k := binary.Uvarint(data[off:])
		off += k + int(l)
	}
	_, a := binary.Uvarint(data[off:])
	n, b := binary.Uvarint(data[off+a:])
	inHash := bytes.Clone(data)
	inHash[off+a+b+int(n)+5] ^= 1
	if err := os.WriteFile(path, inHash, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewClassifier(trust).LoadFile(dir); !errors.Is(err, errDamaged) {
		t.Errorf("a bit flipped in a hash: LoadFile error %v, want %v", err, errDamaged)
	}

	for _, damaged := range [][]byte{data[:len(data)/2], []byte("garbage"), {}, flipped, inHash} {
		if err := os.WriteFile(path, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		s, got, hook := cachePass(t, trust, src, entries, dir)
		if got != want {
			t.Fatalf("plan with a damaged file cache:\n%s\nwant:\n%s", got, want)
		}
		warned := false
		for _, e := range hook.AllEntries() {
			warned = warned || e.Level == logrus.WarnLevel && e.Message == "classification cache not used"
		}
		if !warned {
			t.Errorf("%d bytes of damaged file: no warning", len(damaged))
		}
		if n, err := NewClassifier(trust).LoadFile(dir); err != nil || n != s.classes.certs.len()-1 {
			t.Errorf("file after the pass: %d entries, %v; want %d (all but the broken value)", n, err, s.classes.certs.len()-1)
		}
	}
}

// TestFileCacheHoldsEveryField: the file keeps every field of a Cert but its
// DER (which comes with the certificate), Broken (never saved) and pass (this
// process's). A field added to Cert must be added to the file, and
// cacheFormat bumped.
func TestFileCacheHoldsEveryField(t *testing.T) {
	var fields []string
	ct := reflect.TypeOf(Cert{})
	for i := range ct.NumField() {
		fields = append(fields, ct.Field(i).Name)
	}
	if got, want := fmt.Sprint(fields), "[Hash text issuer size pass times unusable Broken]"; got != want {
		t.Fatalf("Cert has the fields %s; the file cache knows %s: add the new ones to SaveFile and decodeCache, and bump cacheFormat", got, want)
	}
	ca := newTestCA(t, "Corp Issuing CA")
	trust := certsource.NewTrust([]*x509.Certificate{ca.cert})
	id, ok := trust.Issuer(ca.issue(t, leaf{serial: 1, emails: []string{"alice@corp.example"}}))
	if !ok {
		t.Fatal("the test CA's certificate does not verify")
	}
	k := NewClassifier(trust)
	certs := certsOf(
		certFields{Hash: [32]byte{1}, DER: []byte{0x30}, Size: 1234, SerialHex: "0A1B", Issuer: id, IssuerName: trust.Name(id),
			Emails: []string{"alice@corp.example", "Alice.Smith@corp.example"}, notBefore: now.Add(-time.Hour).Unix(), notAfter: now.Add(time.Hour).Unix()},
		certFields{Hash: [32]byte{2}, SerialHex: "-5", IssuerName: "CN=Partner CA", Emails: nil,
			notBefore: 0, notAfter: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix(), unusable: 1}, // no_email_protection
		certFields{Hash: [32]byte{3}, Broken: true},
	)
	for _, c := range certs {
		k.store(c)
	}
	dir := t.TempDir()
	if n, err := k.SaveFile(dir); n != 2 || err != nil {
		t.Fatalf("SaveFile: %d, %v; want 2 (the broken one left out)", n, err)
	}
	back := NewClassifier(trust)
	if n, err := back.LoadFile(dir); n != 2 || err != nil {
		t.Fatalf("LoadFile: %d, %v", n, err)
	}
	for _, want := range certs[:2] {
		got := back.known(want.Hash)
		wantSaved := *want
		wantSaved.issuer = &certIssuer{id: want.Issuer(), name: want.IssuerName()} // no DER: the directory or the store has it
		wantSaved.pass = back.pass
		if !reflect.DeepEqual(*got, wantSaved) {
			t.Errorf("after a round trip\n%+v\nwant\n%+v", got, want)
		}
	}
}

// cacheEntry is a body with no trusted issuer, one foreign one, and one
// entry: its times' nanoseconds, its reason to be unusable, and its text
// after texts, of the length given.
func cacheEntry(nanos uint32, reason uint64, texts string, textLen uint64) []byte {
	b := []byte{0, 1, 8}
	b = append(b, "CN=Other"...)
	b = binary.AppendUvarint(b, 1) // one entry
	b = binary.AppendUvarint(b, uint64(len(texts)))
	b = append(b, texts...)
	b = append(b, make([]byte, 32)...)
	for range 2 {
		b = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(b, 1700000000), nanos)
	}
	b = append(b, 0, 1) // Size, issuer 1
	b = binary.AppendUvarint(b, reason)
	return binary.AppendUvarint(b, textLen)
}

// TestDecodeCacheBoundsTextsByWhatIsLeft: the checksum is checked at the
// body's end, so a length decoded before it may be damage. A count of
// issuers larger than the bytes left, a text longer than the texts, and a
// text whose serial or addresses run past its end are refused; a text of
// many addresses, each whole, decodes.
func TestDecodeCacheBoundsTextsByWhatIsLeft(t *testing.T) {
	trust := certsource.NewTrust(nil)
	many := certText("0A", slices.Repeat([]string{"a@corp.example"}, 1000)...)
	for _, tc := range []struct {
		name    string
		body    []byte
		wantErr string
	}{
		{"many addresses", cacheEntry(0, 0, many, uint64(len(many))), ""},
		{"an empty address", cacheEntry(0, 0, certText("0A", ""), 4), ""},
		{"a text past the texts", cacheEntry(0, 0, many, uint64(len(many))+1), "truncated string"},
		{"an address past the text", cacheEntry(0, 0, many[:len(many)-1], uint64(len(many))-1), "a serial or an address out of range"},
		{"no serial", cacheEntry(0, 0, "", 0), "a serial or an address out of range"},
		{"a length of more than 64 bits", cacheEntry(0, 0, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x7f", 10), "a serial or an address out of range"},
		{"issuers beyond the body", binary.AppendUvarint(nil, 1<<40), "issuer count out of range"},
	} {
		saved, err := decodeCache(bytes.NewReader(tc.body), int64(len(tc.body)), trust)
		switch {
		case tc.wantErr == "" && (err != nil || saved.len() != 1):
			t.Errorf("%s: %d entries, %v", tc.name, saved.len(), err)
		case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.wantErr)
		}
	}
}

// TestDecodeCacheRefusesWhatClassifyNeverWrites: a Cert keeps its times in
// whole seconds and why it is unusable as one of Classify's reasons, so an
// entry with a fraction of a second or another reason does not decode
// rather than decoding as something else.
func TestDecodeCacheRefusesWhatClassifyNeverWrites(t *testing.T) {
	trust := certsource.NewTrust(nil)
	text := certText("0A")
	for _, tc := range []struct {
		nanos   uint32
		reason  uint64
		wantErr string
	}{
		{0, 0, ""},
		{0, uint64(noKeyAgreement), ""},
		{1, 0, "a certificate's time with a fraction of a second"},
		{0, uint64(len(unusableReasons)), "unknown reason a certificate is unusable"},
	} {
		body := cacheEntry(tc.nanos, tc.reason, text, uint64(len(text)))
		saved, err := decodeCache(bytes.NewReader(body), int64(len(body)), trust)
		switch {
		case tc.wantErr == "" && (err != nil || saved.len() != 1):
			t.Errorf("%d ns, %d: %d entries, %v", tc.nanos, tc.reason, saved.len(), err)
		case tc.wantErr == "":
			saved.each(func(c *Cert) {
				if c.Unusable() != unusableReasons[tc.reason] || !c.NotAfter().Equal(time.Unix(1700000000, 0)) {
					t.Errorf("%d: decoded as %q, %v", tc.reason, c.Unusable(), c.NotAfter())
				}
			})
		case err == nil || err.Error() != tc.wantErr:
			t.Errorf("%d ns, %d: error %v, want %q", tc.nanos, tc.reason, err, tc.wantErr)
		}
	}
}

// FuzzDecodeCache: whatever a classification file's body holds (its checksum
// only guards against damage, not against a hand-made file), decoding it does
// not panic or allocate beyond its size, and what decodes encodes back to the
// same entries.
func FuzzDecodeCache(f *testing.F) {
	ca := newTestCA(f, "Corp Issuing CA")
	trust := certsource.NewTrust([]*x509.Certificate{ca.cert})
	id, _ := trust.Issuer(ca.issue(f, leaf{serial: 1, emails: []string{"a@corp.example"}}))
	seed := encodedCache(f, certsOf(
		certFields{Hash: [32]byte{1}, SerialHex: "0A", Issuer: id, IssuerName: trust.Name(id),
			Emails: []string{"a@corp.example"}, notBefore: now.Unix(), notAfter: now.Add(time.Hour).Unix()},
		certFields{Hash: [32]byte{2}, SerialHex: "0B", IssuerName: "CN=Other", notBefore: now.Unix(), notAfter: now.Unix(), unusable: 1}, // no_email_protection
		certFields{Hash: [32]byte{3}, SerialHex: "0C", IssuerName: "CN=Other", Emails: []string{"", "b@other.example"}},
	))
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, body []byte) {
		saved, err := decodeCache(bytes.NewReader(body), int64(len(body)), trust)
		if err != nil {
			return
		}
		var certs []*Cert
		saved.each(func(c *Cert) { certs = append(certs, c) })
		again, err := decodeCache(bytes.NewReader(encodedCache(t, certs)), 1<<20, trust)
		if err != nil || again.len() != saved.len() {
			t.Fatalf("re-encoded: %d entries, %v; decoded %d", again.len(), err, saved.len())
		}
		for _, c := range certs {
			if !reflect.DeepEqual(again.get(c.Hash), c) {
				t.Fatalf("entry %x changed in a round trip", c.Hash[:4])
			}
		}
	})
}

// encodedCache is encodeCache's body for certs.
func encodedCache(t testing.TB, certs []*Cert) []byte {
	t.Helper()
	var b bytes.Buffer
	if _, err := encodeCache(&b, certs); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDecodeCacheIssuers: an entry names its trusted issuer by its place in
// the file's list of them, which must be in the trust set the file is read
// with, and the entry's place must be in the list.
func TestDecodeCacheIssuers(t *testing.T) {
	ca, other := newTestCA(t, "Corp Issuing CA"), newTestCA(t, "Other CA")
	trust := certsource.NewTrust([]*x509.Certificate{ca.cert})
	id, _ := trust.Issuer(ca.issue(t, leaf{serial: 1, emails: []string{"a@corp.example"}}))
	body := encodedCache(t, certsOf(
		certFields{Hash: [32]byte{1}, SerialHex: "0A", Issuer: id, IssuerName: trust.Name(id), Emails: []string{"a@corp.example"}},
		certFields{Hash: [32]byte{2}, SerialHex: "0B", IssuerName: "CN=Other"},
	))
	saved, err := decodeCache(bytes.NewReader(body), int64(len(body)), trust)
	if err != nil || saved.len() != 2 || saved.get([32]byte{1}).Issuer() != id || saved.get([32]byte{2}).Owned() {
		t.Fatalf("decoded %d entries, %v", saved.len(), err)
	}
	otherTrust := certsource.NewTrust([]*x509.Certificate{other.cert})
	if _, err := decodeCache(bytes.NewReader(body), int64(len(body)), otherTrust); err == nil || !strings.Contains(err.Error(), "is not in the trust set") {
		t.Errorf("read with another trust set: %v, want the issuer refused", err)
	}
	// No issuers listed, one entry naming the first.
	b := binary.AppendUvarint([]byte{0, 0}, 1)
	b = append(b, 1, 0) // one text: an empty serial
	b = append(b, make([]byte, 32+12+12)...)
	b = append(b, 0, 1, 0, 1) // Size, issuer 1, usable, the text's length
	if _, err := decodeCache(bytes.NewReader(b), int64(len(b)), trust); err == nil || err.Error() != "issuer out of range" {
		t.Errorf("an entry naming an issuer not listed: %v", err)
	}
}
