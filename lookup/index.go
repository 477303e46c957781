package lookup

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"runtime"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"time"

	"github.com/certgal/certgal/internal/mailaddr"
)

// Entry is one user's published certificates under the addresses that are the user's alone.
// The index copies what it serves: the DER slices are not referenced once it is built.
type Entry struct {
	// Addresses are compared after folding ASCII letters to lower case; nothing else is
	// normalised, as in the reconcile.
	Addresses []string
	DER       [][]byte
}

// Stats describes an index.
type Stats struct {
	Addresses    int // addresses that resolve to at least one certificate
	Certificates int // distinct certificates
	// Reused certificates were prepared by the previous index and taken over as they were.
	Reused int
	// Unparseable values were left out. A pass only publishes parsed certificates, so a
	// non-zero count is a bug upstream.
	Unparseable int
	// Ambiguous addresses appeared in more than one entry and were left out: never guess.
	Ambiguous int
}

// Index is an immutable, prepared view of the published certificates. Build it with NewIndex
// or, to reuse the work of the previous one, with (*Index).Rebuild; hand it to Server.Swap.
//
// The garbage collector marks the whole live heap in every cycle, while requests are being
// answered, and net/http's per-request garbage makes cycles frequent. So the index is a few
// large objects that hold no pointers (the bodies in one arena, records that refer to each
// other by number, maps of plain values), and the header values, which net/http needs as
// strings, are substrings of one string. At 100,000 certificates an index of an object or more
// per piece took 393 MiB and 150–800 ms of marking per cycle on 2 cores; this one took
// 287 MiB and about 10 ms, and 156 MiB since PEM and JSON are rendered per request.
type Index struct {
	arena   []byte   // every prepared response body, back to back
	certs   []cert   // by certificate number
	sets    []set    // certificate n's set of itself is set n; sets of several follow
	members []uint32 // certificate numbers, newest first: of the sets, and of search keys
	hdrs    []string // ETag and Content-Length values

	byAddr map[string]uint32   // folded address → set; keys are substrings of one string
	bySum  map[[32]byte]uint32 // SHA-256 of the DER → certificate, for Rebuild
	// search finds the certificates with an RFC 4387 key, at most maxSearchResults+1 (more
	// are refused anyway; one more says so).
	search [numKeys]map[[20]byte]span // → members
	stats  Stats
	// entries is the SHA-256 of the entries the index was built from: a pass that
	// published the same gets the same index back, with no second copy built.
	entries [32]byte
}

// span is a run of bytes in the arena or of numbers in members.
type span struct{ off, n int }

// cert is one certificate: what sorting, search and Rebuild need, and where its bytes are.
// Those are one run in the arena, so that Rebuild copies them in one piece:
//
//	p7c header | DER | p7c trailer | JSON fields before the PEM
//
// PEM and JSON are rendered per request from the DER (render.go): prepared, they were
// two thirds of the arena, and the JSON held the PEM a second time.
type cert struct {
	sum                 [32]byte
	notBefore, notAfter int64 // Unix seconds (a time.Time holds a pointer)
	keys                [numKeys][20]byte
	hasSKID             bool
	at                  int // where its bytes start in the arena
	p7cHdr, der         int // lengths
	jsonFields          int
}

func (c *cert) size() int     { return c.p7cHdr + c.der + len(p7cTrailer) + c.jsonFields }
func (c *cert) derSpan() span { return span{c.at + c.p7cHdr, c.der} }
func (c *cert) p7cSpan() span { return span{c.at, c.p7cHdr + c.der + len(p7cTrailer)} }
func (c *cert) jsonFieldsSpan() span {
	return span{c.at + c.size() - c.jsonFields, c.jsonFields}
}

// set is what an address resolves to: its certificates and a response per format.
type set struct {
	members span
	reps    [numFormats]rep
}

// rep is one response with its header values prepared. The bodies of DER and p7c are in the
// arena; those of PEM and JSON are rendered from the set's certificates, and of their body
// only the length n is set.
type rep struct {
	body         span
	etag, length uint32 // in hdrs
}

// rendered says whether the bodies of format f are rendered per request, not prepared.
func rendered(f int) bool { return f == fmtPEM || f == fmtJSON }

// prepared is a rep in the form the handlers write it.
type prepared struct {
	body         []byte
	etag, length []string
}

func (ix *Index) bytes(s span) []byte { return ix.arena[s.off : s.off+s.n : s.off+s.n] }

// header is a prepared header value.
func (ix *Index) header(i uint32) []string { return ix.hdrs[i : i+1 : i+1] }

// response is a prepared response of a format that is not rendered.
func (ix *Index) response(rp *rep) prepared {
	return prepared{body: ix.bytes(rp.body), etag: ix.header(rp.etag), length: ix.header(rp.length)}
}

// entrySums returns the SHA-256 of each DER of entries, and one over the
// entries: their addresses as the index folds them and their DER's sums, in order.
func entrySums(entries []Entry) ([][][32]byte, [32]byte) {
	h := sha256.New()
	sums := make([][][32]byte, len(entries))
	var n [8]byte
	for i, e := range entries {
		binary.BigEndian.PutUint32(n[:4], uint32(len(e.Addresses)))
		binary.BigEndian.PutUint32(n[4:], uint32(len(e.DER)))
		h.Write(n[:])
		for _, a := range e.Addresses {
			binary.BigEndian.PutUint32(n[:4], uint32(len(a)))
			h.Write(n[:4])
			h.Write([]byte(mailaddr.ASCIILower(a)))
		}
		sums[i] = make([][32]byte, len(e.DER))
		for j, der := range e.DER {
			sums[i][j] = sha256.Sum256(der)
			h.Write(sums[i][j][:])
		}
	}
	var fp [32]byte
	h.Sum(fp[:0])
	return sums, fp
}

// NewIndex prepares every representation of every certificate in entries.
func NewIndex(entries []Entry) *Index { return (*Index)(nil).Rebuild(entries) }

// Rebuild is NewIndex reusing the per-certificate work of ix (which may be nil) for every
// certificate it already holds, found by SHA-256: a pass that changed a few certificates out
// of 100,000 parses only those few, and copies the prepared bytes of the others. ix itself is
// not changed and may still be serving.
func (ix *Index) Rebuild(entries []Entry) *Index {
	sums, fp := entrySums(entries)
	if ix != nil && ix.entries == fp {
		return ix
	}
	var st Stats

	// First every distinct certificate, taken over or prepared.
	type candidate struct {
		der    []byte
		c      cert   // with at 0: offsets into region
		region []byte // its bytes
		ok     bool
		reused bool
	}
	var cands []candidate
	bySum := make(map[[32]byte]int, len(entries))
	ofEntry := make([][]int, len(entries)) // the distinct candidates of each entry
	for i, e := range entries {
		for j, der := range e.DER {
			sum := sums[i][j]
			k, seen := bySum[sum]
			if !seen {
				k = len(cands)
				bySum[sum] = k
				cand := candidate{der: der, c: cert{sum: sum}}
				if ix != nil {
					if n, ok := ix.bySum[sum]; ok {
						c := ix.certs[n]
						cand.region = ix.arena[c.at : c.at+c.size()]
						c.at = 0
						cand.c, cand.ok, cand.reused = c, true, true
						st.Reused++
					}
				}
				cands = append(cands, cand)
			}
			if !slices.Contains(ofEntry[i], k) {
				ofEntry[i] = append(ofEntry[i], k)
			}
		}
	}
	prepareAll(len(cands), func(k int) {
		if !cands[k].reused {
			sum := cands[k].c.sum
			cands[k].c, cands[k].region, cands[k].ok = prepare(sum, cands[k].der)
		}
	})
	for k := range cands {
		if !cands[k].ok {
			st.Unparseable++
		}
	}

	// Then the addresses, each to its entry's certificates (owner -1: ambiguous).
	owner := make(map[string]int, len(entries))
	for i, e := range entries {
		ofEntry[i] = slices.DeleteFunc(ofEntry[i], func(k int) bool { return !cands[k].ok })
		if len(ofEntry[i]) == 0 {
			continue
		}
		for _, a := range e.Addresses {
			a = mailaddr.ASCIILower(a)
			if !plausibleAddress(a) {
				continue
			}
			if prev, dup := owner[a]; dup {
				if prev >= 0 {
					st.Ambiguous++
					owner[a] = -1
				}
				continue
			}
			owner[a] = i
		}
	}

	// Only certificates that some address still reaches are kept: the RFC 4387 interface
	// must not serve what /certs does not.
	served := make([]bool, len(entries))
	reached := make([]bool, len(cands))
	for _, i := range owner {
		if i >= 0 {
			served[i] = true
			for _, k := range ofEntry[i] {
				reached[k] = true
			}
		}
	}
	number := make([]int, len(cands)) // candidate → certificate number, or -1
	n, size := 0, 0
	for k := range cands {
		if !reached[k] {
			number[k] = -1
			continue
		}
		number[k] = n
		n++
		size += cands[k].c.size()
	}
	for i := range entries {
		if served[i] && len(ofEntry[i]) > 1 { // a set of several: its p7c
			for _, k := range ofEntry[i] {
				size += cands[k].c.der
			}
			size += p7cMaxHeader + len(p7cTrailer)
		}
	}

	next := &Index{
		arena:   make([]byte, 0, size),
		certs:   make([]cert, 0, n),
		sets:    make([]set, 0, n),
		members: make([]uint32, 0, n),
		bySum:   make(map[[32]byte]uint32, n),
		stats:   st,
		entries: fp,
	}
	var hv headerValues
	for k := range cands {
		if number[k] < 0 {
			continue
		}
		c := cands[k].c
		c.at = len(next.arena)
		next.arena = append(next.arena, cands[k].region...)
		next.addSelf(&c, &hv)
	}
	setOf := make([]uint32, len(entries))
	for i := range entries {
		switch {
		case !served[i]:
		case len(ofEntry[i]) == 1:
			setOf[i] = uint32(number[ofEntry[i][0]])
		default:
			certs := make([]uint32, len(ofEntry[i]))
			for j, k := range ofEntry[i] {
				certs[j] = uint32(number[k])
			}
			setOf[i] = next.addSet(certs, &hv)
		}
	}
	next.addSearchKeys()

	// The addresses, as substrings of one string.
	var text strings.Builder
	var sets []uint32
	for a, i := range owner {
		if i >= 0 {
			text.WriteString(a)
			text.WriteByte(0) // no address holds one: plausibleAddress
			sets = append(sets, setOf[i])
		}
	}
	all := text.String()
	next.byAddr = make(map[string]uint32, len(sets))
	for _, n := range sets {
		end := strings.IndexByte(all, 0)
		next.byAddr[all[:end]] = n
		all = all[end+1:]
	}
	next.hdrs = hv.strings()
	next.stats.Addresses = len(next.byAddr)
	next.stats.Certificates = len(next.certs)
	return next
}

// addSelf appends c, whose bytes are in the arena, and its set of itself.
func (ix *Index) addSelf(c *cert, hv *headerValues) {
	n := uint32(len(ix.certs))
	ix.certs = append(ix.certs, *c)
	ix.bySum[c.sum] = n
	ix.members = append(ix.members, n)
	s := set{members: span{len(ix.members) - 1, 1}}
	s.reps[fmtDER] = rep{body: c.derSpan(), etag: hv.etag(c.sum, 'd'), length: hv.length(c.der)}
	s.reps[fmtP7C] = rep{body: c.p7cSpan(), etag: hv.etag(c.sum, 'c'), length: hv.length(c.p7cSpan().n)}
	s.reps[fmtPEM] = renderedRep(ix.pemLen(ix.setCerts(&s)), c.sum, 'p', hv)
	s.reps[fmtJSON] = renderedRep(ix.jsonLen(ix.setCerts(&s)), c.sum, 'j', hv)
	ix.sets = append(ix.sets, s)
}

// addSet appends the set of several certificates for one address and returns its number.
// DER is the newest alone (a .cer holds one certificate); the others hold all of them,
// newest first.
func (ix *Index) addSet(certs []uint32, hv *headerValues) uint32 {
	ix.sortNewestFirst(certs)
	h := sha256.New()
	for _, n := range certs {
		h.Write(ix.certs[n].sum[:])
	}
	var sum [32]byte
	h.Sum(sum[:0])

	s := set{members: span{len(ix.members), len(certs)}}
	ix.members = append(ix.members, certs...)
	s.reps[fmtDER] = ix.sets[certs[0]].reps[fmtDER]

	ders := make([][]byte, len(certs))
	for i, n := range certs {
		ders[i] = ix.bytes(ix.certs[n].derSpan())
	}
	start := len(ix.arena)
	for _, seg := range p7cSegments(ders) {
		ix.arena = append(ix.arena, seg...)
	}
	n := len(ix.arena) - start
	s.reps[fmtP7C] = rep{body: span{start, n}, etag: hv.etag(sum, 'c'), length: hv.length(n)}

	s.reps[fmtPEM] = renderedRep(ix.pemLen(certs), sum, 'p', hv)
	s.reps[fmtJSON] = renderedRep(ix.jsonLen(certs), sum, 'j', hv)

	ix.sets = append(ix.sets, s)
	return uint32(len(ix.sets) - 1)
}

// renderedRep is the response of a rendered format, n bytes long.
func renderedRep(n int, sum [32]byte, format byte, hv *headerValues) rep {
	return rep{body: span{0, n}, etag: hv.etag(sum, format), length: hv.length(n)}
}

// addSearchKeys indexes every certificate by its RFC 4387 keys. A key several certificates
// share (a subject renewed, every certificate of one issuer) gets a list of them in members.
func (ix *Index) addSearchKeys() {
	for k := range numKeys {
		m := make(map[[20]byte]span, len(ix.certs))
		shared := map[[20]byte][]uint32{}
		for n := range ix.certs {
			c := &ix.certs[n]
			if k == keySKID && !c.hasSKID {
				continue
			}
			key := c.keys[k]
			if d, ok := shared[key]; ok {
				if len(d) <= maxSearchResults {
					shared[key] = append(d, uint32(n))
				}
			} else if other, ok := m[key]; ok {
				shared[key] = []uint32{ix.members[other.off], uint32(n)}
			} else {
				m[key] = ix.sets[n].members
			}
		}
		for key, certs := range shared {
			ix.sortNewestFirst(certs)
			m[key] = span{len(ix.members), len(certs)}
			ix.members = append(ix.members, certs...)
		}
		ix.search[k] = m
	}
}

// headerValues collects the index's header values into one string, so that they are not an
// object each. Content-Length values are few and shared.
type headerValues struct {
	text    []byte
	ends    []int
	lengths map[int]uint32
}

func (hv *headerValues) add(v []byte) uint32 {
	hv.text = append(hv.text, v...)
	hv.ends = append(hv.ends, len(hv.text))
	return uint32(len(hv.ends) - 1)
}

func (hv *headerValues) etag(sum [32]byte, format byte) uint32 {
	var b [64]byte
	return hv.add(appendETag(b[:0], sum, format))
}

func (hv *headerValues) length(n int) uint32 {
	if i, ok := hv.lengths[n]; ok {
		return i
	}
	if hv.lengths == nil {
		hv.lengths = map[int]uint32{}
	}
	var b [20]byte
	i := hv.add(strconv.AppendInt(b[:0], int64(n), 10))
	hv.lengths[n] = i
	return i
}

func (hv *headerValues) strings() []string {
	all := string(hv.text)
	out := make([]string, len(hv.ends))
	start := 0
	for i, end := range hv.ends {
		out[i] = all[start:end]
		start = end
	}
	return out
}

// Stats describes the index.
func (ix *Index) Stats() Stats { return ix.stats }

// prepareAll runs f(0..n-1) on every core: parsing is most of a first build.
func prepareAll(n int, f func(int)) {
	workers := min(runtime.GOMAXPROCS(0), n)
	if workers <= 1 {
		for i := range n {
			f(i)
		}
		return
	}
	var wg stdsync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// lookupAddr finds the certificates published under an address (folded first); nil when
// there are none.
func (ix *Index) lookupAddr(addr string) *set {
	n, ok := ix.byAddr[mailaddr.Key(addr)]
	if !ok {
		return nil
	}
	return &ix.sets[n]
}

// lookupKey finds the certificates with an RFC 4387 search key, newest first.
func (ix *Index) lookupKey(k int, key [20]byte) []uint32 {
	s, ok := ix.search[k][key]
	if !ok {
		return nil
	}
	return ix.members[s.off : s.off+s.n]
}

// setCerts is the certificates of s, newest first.
func (ix *Index) setCerts(s *set) []uint32 {
	return ix.members[s.members.off : s.members.off+s.members.n]
}

// The formats a certificate set is served in.
const (
	fmtDER = iota
	fmtPEM
	fmtP7C
	fmtJSON
	numFormats
)

// certJSON is the JSON form of one certificate (documented in the README).
type certJSON struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	SHA256    string    `json:"sha256"`
	PEM       string    `json:"pem"`
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

// prepare parses a certificate and prepares what cert describes; false when der is no
// certificate.
func prepare(sum [32]byte, der []byte) (cert, []byte, bool) {
	x, err := x509.ParseCertificate(der)
	if err != nil {
		return cert{}, nil, false
	}
	keys, hasSKID, err := searchKeys(x)
	if err != nil {
		return cert{}, nil, false
	}
	// Marshalled without its PEM, the element ends in `"pem":""}`; what precedes the
	// value's closing quote is what appendJSON writes before the PEM.
	elem, err := json.Marshal(newCertJSON(x, sum))
	if err != nil {
		return cert{}, nil, false
	}
	if !bytes.HasSuffix(elem, []byte(`,"pem":""}`)) {
		panic("lookup: certJSON does not end in its pem field") // appendJSON depends on it
	}
	fields := elem[:len(elem)-len(jsonPEMEnd)]
	c := cert{sum: sum, notBefore: x.NotBefore.Unix(), notAfter: x.NotAfter.Unix(), keys: keys, hasSKID: hasSKID,
		der: len(der), jsonFields: len(fields)}
	b := appendP7CHeader(make([]byte, 0, p7cMaxHeader+len(der)+len(p7cTrailer)+len(fields)), len(der))
	c.p7cHdr = len(b)
	b = append(append(b, der...), p7cTrailer...)
	b = append(b, fields...)
	return c, b, true
}

// sortNewestFirst orders by notBefore, then notAfter, both descending, then by hash so the
// order (and so every ETag) does not depend on the order of the entries.
func (ix *Index) sortNewestFirst(certs []uint32) {
	slices.SortFunc(certs, func(i, j uint32) int {
		a, b := &ix.certs[i], &ix.certs[j]
		if c := cmp.Compare(b.notBefore, a.notBefore); c != 0 {
			return c
		}
		if c := cmp.Compare(b.notAfter, a.notAfter); c != 0 {
			return c
		}
		return slices.Compare(a.sum[:], b.sum[:])
	})
}

// appendETag appends a strong validator: the content's hash and a letter for the format,
// since the representations of one certificate differ.
func appendETag(b []byte, sum [32]byte, format byte) []byte {
	b = append(b, '"')
	b = base64.RawURLEncoding.AppendEncode(b, sum[:18])
	return append(b, '.', format, '"')
}

// etagOf is appendETag as a string.
func etagOf(sum [32]byte, format byte) string { return string(appendETag(nil, sum, format)) }

// maxAddressLen is the longest address accepted (RFC 5321's path limit less the brackets).
const maxAddressLen = 254

// plausibleAddress is the shape check before a lookup: one @ with something on either side,
// no control characters or spaces, not too long. It says nothing about whether anyone has it.
func plausibleAddress(a string) bool {
	if len(a) == 0 || len(a) > maxAddressLen {
		return false
	}
	at := strings.IndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || strings.IndexByte(a[at+1:], '@') >= 0 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] <= ' ' || a[i] == 0x7f {
			return false
		}
	}
	return true
}
