package lookup

import (
	"bytes"
	"cmp"
	"slices"
	"sort"
	"strings"

	"github.com/certgal/certgal/internal/mailaddr"
)

// Entry is one user's published certificates under the addresses that are the user's alone.
// The certificates are given either as DER or, so that a caller need not hold every DER at
// once, as their SHA-256 in Sums with Options.Fetch to read those the index does not hold.
// The index copies what it serves: the DER slices are not referenced once it is built.
type Entry struct {
	// Addresses are compared after folding ASCII letters to lower case; nothing else is
	// normalised, as in the reconcile.
	Addresses []string
	DER       [][]byte
	// Sums are the SHA-256 of the certificates when DER is nil.
	Sums [][32]byte
}

// Stats describes an index.
type Stats struct {
	Addresses    int // addresses that resolve to at least one certificate
	Certificates int // distinct certificates
	// Reused certificates were held by the previous index and taken over where they are.
	Reused int
	// Unparseable values were left out. A pass only publishes parsed certificates, so a
	// non-zero count is a bug upstream.
	Unparseable int
	// Ambiguous addresses appeared in more than one entry and were left out: never guess.
	Ambiguous int
}

// Index is an immutable view of the published certificates. Build it with NewIndex or Build
// or, to reuse the work of the previous one, with (*Index).Rebuild; hand it to Server.Swap.
//
// The certificates' bytes are in a bodyStore, off the Go heap (body.go); the index holds
// small records of plain values that refer to each other by number, and renders every
// response from the bytes it reads: the garbage collector marks the whole live heap in every
// cycle, while requests are being answered, so an index of few objects without pointers keeps
// cycles short (docs/BENCHMARKS.md, "What changed: the index is a few objects without
// pointers" and "Lookup memory, issue 17").
type Index struct {
	body  storeView
	certs []cert // by certificate number, in the order of their SHA-256: found by binary search
	// Certificate n's set of itself is set n, members[n]; the sets of several follow, each
	// a span of members, newest first.
	sets    []span     // of the sets of several, by set number less len(certs)
	setSums [][32]byte // of the sets of several, the same
	members []uint32
	lengths lengthTable

	byAddr addrTable // folded address → set
	// search holds, per RFC 4387 key, the numbers of the certificates that have one, in the
	// order of the start of their key and newest first among those of one start: a search is
	// a binary search, and its answer the certificates of that run whose whole key is the one
	// asked for (lookupKey).
	search [numKeys][]uint32
	stats  Stats
	live   int64 // bytes of the store the index reads
	// entries is the SHA-256 of the entries the index was built from: a pass that
	// published the same gets the same index back, with no second copy built. Zero when a
	// certificate could not be fetched, so that the next pass tries again.
	entries [32]byte
}

// span is a run of numbers in members.
type span struct{ off, n uint32 }

// cert is one certificate: what sorting, search and Rebuild need, and where its bytes are in
// the store: its DER, then the fields of its JSON element before the PEM, then its RFC 4387
// search keys. The record holds the first bytes of each key, to sort and search by, and the
// store the whole keys, read to tell apart the few certificates whose first bytes are alike:
// a search is rare beside /certs, and the whole keys took more than half the record.
type cert struct {
	sum                 [32]byte
	fieldsSum           [8]byte         // of the JSON fields, the start of their SHA-256
	keysSum             [8]byte         // of the search keys, the same
	notBefore, notAfter int64           // Unix seconds (a time.Time holds a pointer)
	at                  int64           // where its bytes start in the store
	der, fields         uint32          // lengths
	keys                [numKeys]uint32 // the first bytes of each search key (keyPrefix)
	hasSKID             bool
}

// size is how many bytes of the store c takes.
func (c *cert) size() int { return int(c.der) + int(c.fields) + keysLen }

// Stats describes the index.
func (ix *Index) Stats() Stats { return ix.stats }

// find is the number of the certificate with that SHA-256.
func (ix *Index) find(sum [32]byte) (uint32, bool) {
	n := sort.Search(len(ix.certs), func(i int) bool { return bytes.Compare(ix.certs[i].sum[:], sum[:]) >= 0 })
	if n < len(ix.certs) && ix.certs[n].sum == sum {
		return uint32(n), true
	}
	return 0, false
}

// lookupAddr finds the set of certificates published under an address (folded first).
func (ix *Index) lookupAddr(addr string) (uint32, bool) {
	return ix.byAddr.find(mailaddr.Key(addr))
}

// lookupKey appends to dst the certificates with an RFC 4387 search key, newest first, at
// most maxSearchResults+1 (more are refused anyway; one more says so). The certificates whose
// key starts alike are found by binary search; the whole key of each is read from the store,
// into buf, and compared.
func (ix *Index) lookupKey(dst []uint32, buf []byte, k int, key [20]byte) ([]uint32, []byte, error) {
	by := ix.search[k]
	p := keyPrefix(key)
	lo := sort.Search(len(by), func(i int) bool { return ix.certs[by[i]].keys[k] >= p })
	for i := lo; i < len(by) && ix.certs[by[i]].keys[k] == p && len(dst) <= maxSearchResults; i++ {
		var err error
		if buf, err = ix.body.loadKeys(buf[:0], &ix.certs[by[i]]); err != nil {
			return dst, buf, err
		}
		if [20]byte(buf[k*keyLen:]) == key {
			dst = append(dst, by[i])
		}
	}
	return dst, buf, nil
}

// setCerts is the certificates of set sn, newest first.
func (ix *Index) setCerts(sn uint32) []uint32 {
	if int(sn) < len(ix.certs) {
		return ix.members[sn : sn+1 : sn+1]
	}
	s := ix.sets[int(sn)-len(ix.certs)]
	return ix.members[s.off : s.off+s.n]
}

// setSum is what set sn's ETags are made of: its certificate's SHA-256, or for a set of
// several one over theirs.
func (ix *Index) setSum(sn uint32) [32]byte {
	if int(sn) < len(ix.certs) {
		return ix.certs[sn].sum
	}
	return ix.setSums[int(sn)-len(ix.certs)]
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
func (ix *Index) sortNewestFirst(certs []uint32) { slices.SortFunc(certs, ix.newerFirst) }

// newerFirst is sortNewestFirst's order.
func (ix *Index) newerFirst(i, j uint32) int {
	a, b := &ix.certs[i], &ix.certs[j]
	if c := cmp.Compare(b.notBefore, a.notBefore); c != 0 {
		return c
	}
	if c := cmp.Compare(b.notAfter, a.notAfter); c != 0 {
		return c
	}
	return slices.Compare(a.sum[:], b.sum[:])
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
