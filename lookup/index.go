package lookup

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	stdsync "sync"
	"time"
)

// Entry is one user's published certificates under the addresses that are the user's alone.
// The index keeps the DER slices it is given: callers must not change them afterwards.
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
type Index struct {
	byAddr map[string]*set
	bySum  map[[32]byte]*cert
	// search finds a certificate by an RFC 4387 key; a key several certificates share (a
	// subject renewed, every certificate of one issuer) is in dups instead, with at most
	// maxSearchResults+1 of them. Two maps keep the common case to one pointer a key.
	search [numKeys]map[[20]byte]*cert
	dups   [numKeys]map[[20]byte][]*cert
	stats  Stats
}

// NewIndex prepares every representation of every certificate in entries.
func NewIndex(entries []Entry) *Index { return (*Index)(nil).Rebuild(entries) }

// Rebuild is NewIndex reusing the per-certificate work of ix (which may be nil) for every
// certificate it already holds, found by SHA-256: a pass that changed a few certificates out
// of 100,000 parses only those few. ix itself is not changed and may still be serving.
func (ix *Index) Rebuild(entries []Entry) *Index {
	next := &Index{byAddr: make(map[string]*set, len(entries)), bySum: make(map[[32]byte]*cert, len(entries))}
	for k := range next.search {
		next.search[k] = make(map[[20]byte]*cert, len(entries))
		next.dups[k] = map[[20]byte][]*cert{}
	}

	// First every distinct certificate, taken over or queued for preparing.
	type todo struct {
		sum [32]byte
		der []byte
		c   *cert
	}
	var queue []todo
	sums := make([][][32]byte, len(entries))
	for i, e := range entries {
		sums[i] = make([][32]byte, len(e.DER))
		for j, der := range e.DER {
			sum := sha256.Sum256(der)
			sums[i][j] = sum
			if _, ok := next.bySum[sum]; ok {
				continue
			}
			if ix != nil {
				if c, ok := ix.bySum[sum]; ok {
					next.bySum[sum] = c
					next.stats.Reused++
					continue
				}
			}
			next.bySum[sum] = nil // reserved; filled below
			queue = append(queue, todo{sum: sum, der: der})
		}
	}
	prepareAll(len(queue), func(i int) { queue[i].c = prepare(queue[i].sum, queue[i].der) })
	for _, q := range queue {
		if q.c == nil {
			delete(next.bySum, q.sum)
			next.stats.Unparseable++
			continue
		}
		next.bySum[q.sum] = q.c
	}

	// Then the addresses, each to the representations of its entry's certificates.
	claimed := map[string]bool{}
	for i, e := range entries {
		var certs []*cert
		for _, sum := range sums[i] {
			if c := next.bySum[sum]; c != nil && !slices.Contains(certs, c) {
				certs = append(certs, c)
			}
		}
		if len(certs) == 0 {
			continue
		}
		s := &certs[0].self
		if len(certs) > 1 {
			s = newSet(certs)
		}
		for _, a := range e.Addresses {
			a = asciiLower(a)
			if !plausibleAddress(a) {
				continue
			}
			if _, dup := next.byAddr[a]; dup || claimed[a] {
				if !claimed[a] {
					next.stats.Ambiguous++
				}
				claimed[a] = true
				delete(next.byAddr, a)
				continue
			}
			next.byAddr[a] = s
		}
	}

	// Only certificates that some address still reaches are searchable: the RFC 4387
	// interface must not serve what /certs does not.
	reachable := make(map[*cert]bool, len(next.bySum))
	for _, s := range next.byAddr {
		for _, c := range s.certs {
			reachable[c] = true
		}
	}
	for sum, c := range next.bySum {
		if !reachable[c] {
			delete(next.bySum, sum)
			continue
		}
		for k := range numKeys {
			if k == keySKID && !c.hasSKID {
				continue
			}
			key := c.keys[k]
			if d, ok := next.dups[k][key]; ok {
				// More than maxSearchResults is refused anyway; one more says so.
				if len(d) <= maxSearchResults {
					next.dups[k][key] = append(d, c)
				}
			} else if other := next.search[k][key]; other != nil {
				delete(next.search[k], key)
				next.dups[k][key] = []*cert{other, c}
			} else {
				next.search[k][key] = c
			}
		}
	}
	for k := range numKeys {
		for _, cs := range next.dups[k] {
			sortNewestFirst(cs)
		}
	}
	next.stats.Addresses = len(next.byAddr)
	next.stats.Certificates = len(next.bySum)
	return next
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

// lookupAddr finds the certificates published under an address; addr is folded first.
func (ix *Index) lookupAddr(addr string) *set {
	return ix.byAddr[asciiLower(addr)]
}

// lookupKey finds the certificates with an RFC 4387 search key, newest first.
func (ix *Index) lookupKey(k int, key [20]byte) []*cert {
	if d, ok := ix.dups[k][key]; ok {
		return d
	}
	if c := ix.search[k][key]; c != nil {
		return c.self.certs
	}
	return nil
}

// The formats a certificate set is served in.
const (
	fmtDER = iota
	fmtPEM
	fmtP7C
	fmtJSON
	numFormats
)

// cert is one certificate with everything a response needs, prepared once. At 100,000
// of them the garbage collector visits every object of the index in every cycle, so the
// small parts of self live inside cert rather than in allocations of their own.
type cert struct {
	sum       [32]byte
	der       []byte
	pem       []byte
	jsonElem  []byte // one element of the JSON "certificates" array
	notBefore time.Time
	notAfter  time.Time
	keys      [numKeys][20]byte
	hasSKID   bool
	self      set // this certificate alone, in every format

	one    [1]*cert               // backs self.certs
	segs   [8][]byte              // back self.reps' segments
	hdrs   [2 * numFormats]string // back self.reps' ETag and Content-Length
	p7cHdr [p7cMaxHeader]byte     // backs the p7c's header
}

// set is what one address resolves to: its certificates, newest first, and a prepared
// response per format.
type set struct {
	certs []*cert
	reps  [numFormats]rep
}

// rep is one prepared response body, written as a sequence of shared byte slices so that a
// set of several certificates does not copy them.
type rep struct {
	segs   [][]byte
	length []string // Content-Length, as net/http wants header values
	etag   []string
}

func newRep(etag string, segs ...[]byte) rep {
	n := 0
	for _, s := range segs {
		n += len(s)
	}
	return rep{segs: segs, length: []string{strconv.Itoa(n)}, etag: []string{etag}}
}

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

var (
	jsonHead = []byte(`{"certificates":[`)
	jsonSep  = []byte(`,`)
	jsonTail = []byte("]}\n")
)

// prepare parses a certificate and renders it in every format; nil when der is no certificate.
func prepare(sum [32]byte, der []byte) *cert {
	x, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	keys, hasSKID, err := searchKeys(x)
	if err != nil {
		return nil
	}
	c := &cert{sum: sum, der: der, notBefore: x.NotBefore, notAfter: x.NotAfter, keys: keys, hasSKID: hasSKID}
	c.pem = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	c.jsonElem, err = json.Marshal(certJSON{
		Subject:   x.Subject.String(),
		Issuer:    x.Issuer.String(),
		Serial:    strings.ToUpper(x.SerialNumber.Text(16)),
		NotBefore: x.NotBefore.UTC(),
		NotAfter:  x.NotAfter.UTC(),
		SHA256:    hex.EncodeToString(sum[:]),
		PEM:       string(c.pem),
	})
	if err != nil {
		return nil
	}
	c.one[0] = c
	c.self.certs = c.one[:]
	c.setRep(fmtDER, 'd', 0, der)
	c.setRep(fmtPEM, 'p', 1, c.pem)
	c.setRep(fmtP7C, 'c', 2, appendP7CHeader(c.p7cHdr[:0], len(der)), der, p7cTrailer)
	c.setRep(fmtJSON, 'j', 5, jsonHead, c.jsonElem, jsonTail)
	return c
}

// setRep fills self.reps[f] with segs, keeping the slices in c's own arrays from segment
// index at on.
func (c *cert) setRep(f int, letter byte, at int, segs ...[]byte) {
	n := copy(c.segs[at:], segs)
	size := 0
	for _, s := range segs {
		size += len(s)
	}
	c.hdrs[2*f] = etagOf(c.sum, letter)
	c.hdrs[2*f+1] = strconv.Itoa(size)
	c.self.reps[f] = rep{segs: c.segs[at : at+n : at+n], etag: c.hdrs[2*f : 2*f+1 : 2*f+1], length: c.hdrs[2*f+1 : 2*f+2 : 2*f+2]}
}

// newSet prepares the representations of several certificates for one address: DER is the
// newest alone (a .cer holds one certificate), the others hold all of them, newest first.
func newSet(certs []*cert) *set {
	s := &set{certs: slices.Clone(certs)}
	sortNewestFirst(s.certs)
	h := sha256.New()
	for _, c := range s.certs {
		h.Write(c.sum[:])
	}
	var sum [32]byte
	h.Sum(sum[:0])

	s.reps[fmtDER] = s.certs[0].self.reps[fmtDER]
	pems := make([][]byte, len(s.certs))
	ders := make([][]byte, len(s.certs))
	js := [][]byte{jsonHead}
	for i, c := range s.certs {
		pems[i], ders[i] = c.pem, c.der
		if i > 0 {
			js = append(js, jsonSep)
		}
		js = append(js, c.jsonElem)
	}
	s.reps[fmtPEM] = newRep(etagOf(sum, 'p'), pems...)
	s.reps[fmtP7C] = newRep(etagOf(sum, 'c'), p7cSegments(ders)...)
	s.reps[fmtJSON] = newRep(etagOf(sum, 'j'), append(js, jsonTail)...)
	return s
}

// sortNewestFirst orders by notBefore, then notAfter, both descending, then by hash so the
// order (and so every ETag) does not depend on the order of the entries.
func sortNewestFirst(cs []*cert) {
	slices.SortFunc(cs, func(a, b *cert) int {
		if c := b.notBefore.Compare(a.notBefore); c != 0 {
			return c
		}
		if c := b.notAfter.Compare(a.notAfter); c != 0 {
			return c
		}
		return slices.Compare(a.sum[:], b.sum[:])
	})
}

// etagOf is a strong validator: the content's hash and a letter for the format, since the
// representations of one certificate differ.
func etagOf(sum [32]byte, format byte) string {
	return fmt.Sprintf(`"%s.%c"`, base64.RawURLEncoding.EncodeToString(sum[:18]), format)
}

// asciiLower folds ASCII letters only, as the reconcile compares addresses; it allocates only
// when there is something to fold.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

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
