package lookup

import (
	"cmp"
	"slices"
	"strings"

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
// strings, are substrings of one string: the collector has next to nothing to mark in it,
// where an index of an object or more per piece made every cycle long (figures in
// docs/BENCHMARKS.md, "What changed: the index is a few objects without pointers" and
// "Lookup memory").
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

// Stats describes the index.
func (ix *Index) Stats() Stats { return ix.stats }

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
