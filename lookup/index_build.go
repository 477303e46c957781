package lookup

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"strings"

	"github.com/certgal/certgal/internal/mailaddr"
	"github.com/certgal/certgal/internal/parallel"
)

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
	b := &builder{entries: entries}
	b.collect(ix, sums)
	b.prepareNew()
	b.assignAddresses()
	b.keepReached()
	return b.build(fp)
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

// builder is what Rebuild works out, phase by phase, before it writes the next index:
// collect, prepareNew, assignAddresses, keepReached, build.
type builder struct {
	entries []Entry
	stats   Stats

	// Every distinct certificate of the entries (collect), and the candidates each entry holds,
	// which once prepared are only those that parsed.
	cands   []candidate
	ofEntry [][]int

	// Each plausible address's entry, -1 when several entries have it (assignAddresses).
	owner map[string]int

	// keepReached: the entries some address reaches, and each candidate's certificate number
	// in the next index, -1 for one no address reaches.
	served []bool
	number []int
	certs  int
}

// candidate is a certificate of the entries, taken over from the served index or prepared.
type candidate struct {
	der    []byte
	c      cert   // with at 0: offsets into region
	region []byte // its bytes
	ok     bool
	reused bool
}

// collect finds every distinct certificate of the entries and takes over from ix (which may
// be nil) the prepared bytes of those it holds.
func (b *builder) collect(ix *Index, sums [][][32]byte) {
	bySum := make(map[[32]byte]int, len(b.entries))
	b.ofEntry = make([][]int, len(b.entries))
	for i, e := range b.entries {
		for j, der := range e.DER {
			sum := sums[i][j]
			k, seen := bySum[sum]
			if !seen {
				k = len(b.cands)
				bySum[sum] = k
				b.cands = append(b.cands, ix.candidate(sum, der))
			}
			if !slices.Contains(b.ofEntry[i], k) {
				b.ofEntry[i] = append(b.ofEntry[i], k)
			}
		}
	}
}

// candidate is der, whose SHA-256 is sum, with the prepared bytes of ix when it holds the
// certificate; else still to be prepared.
func (ix *Index) candidate(sum [32]byte, der []byte) candidate {
	if ix != nil {
		if n, ok := ix.bySum[sum]; ok {
			c := ix.certs[n]
			region := ix.arena[c.at : c.at+c.size()]
			c.at = 0
			return candidate{der: der, c: c, region: region, ok: true, reused: true}
		}
	}
	return candidate{der: der, c: cert{sum: sum}}
}

// prepareNew parses and prepares the candidates not taken over, on every core: parsing is
// most of a first build. Each entry keeps the candidates that parsed.
func (b *builder) prepareNew() {
	// A taken-over candidate costs nothing and a new one a parse: batches keep the hand-offs
	// few when most are taken over.
	parallel.Each(context.Background(), len(b.cands), parallel.Options{Batch: 64}, func(k int) {
		if cand := &b.cands[k]; !cand.reused {
			cand.c, cand.region, cand.ok = prepare(cand.c.sum, cand.der)
		}
	})
	for k := range b.cands {
		if b.cands[k].reused {
			b.stats.Reused++
		}
		if !b.cands[k].ok {
			b.stats.Unparseable++
		}
	}
	for i := range b.ofEntry {
		b.ofEntry[i] = slices.DeleteFunc(b.ofEntry[i], func(k int) bool { return !b.cands[k].ok })
	}
}

// assignAddresses gives each address its entry. An address of several entries is ambiguous
// and left out: never guess. Entries with no certificate that parsed give none.
func (b *builder) assignAddresses() {
	b.owner = make(map[string]int, len(b.entries))
	for i, e := range b.entries {
		if len(b.ofEntry[i]) == 0 {
			continue
		}
		for _, a := range e.Addresses {
			a = mailaddr.ASCIILower(a)
			if !plausibleAddress(a) {
				continue
			}
			if prev, dup := b.owner[a]; dup {
				if prev >= 0 {
					b.stats.Ambiguous++
					b.owner[a] = -1
				}
				continue
			}
			b.owner[a] = i
		}
	}
}

// keepReached numbers the certificates some address still reaches, in the order they were
// collected: the RFC 4387 interface must not serve what /certs does not.
func (b *builder) keepReached() {
	b.served = make([]bool, len(b.entries))
	reached := make([]bool, len(b.cands))
	for _, i := range b.owner {
		if i >= 0 {
			b.served[i] = true
			for _, k := range b.ofEntry[i] {
				reached[k] = true
			}
		}
	}
	b.number = make([]int, len(b.cands))
	for k := range b.cands {
		b.number[k] = -1
		if reached[k] {
			b.number[k] = b.certs
			b.certs++
		}
	}
}

// arenaSize is the size of the next index's arena: the bytes of every certificate kept, and
// a p7c for each set of several.
func (b *builder) arenaSize() int {
	size := 0
	for k := range b.cands {
		if b.number[k] >= 0 {
			size += b.cands[k].c.size()
		}
	}
	for i := range b.entries {
		if b.served[i] && len(b.ofEntry[i]) > 1 {
			for _, k := range b.ofEntry[i] {
				size += b.cands[k].c.der
			}
			size += p7cMaxHeader + len(p7cTrailer)
		}
	}
	return size
}

// build writes the next index: the certificates kept, each with its set of itself, the sets
// of several, the search keys and the addresses. fp is the SHA-256 of the entries.
func (b *builder) build(fp [32]byte) *Index {
	next := &Index{
		arena:   make([]byte, 0, b.arenaSize()),
		certs:   make([]cert, 0, b.certs),
		sets:    make([]set, 0, b.certs),
		members: make([]uint32, 0, b.certs),
		bySum:   make(map[[32]byte]uint32, b.certs),
		stats:   b.stats,
		entries: fp,
	}
	var hv headerValues
	b.addCerts(next, &hv)
	setOf := b.addSets(next, &hv)
	next.addSearchKeys()
	next.byAddr = b.addresses(setOf)
	next.hdrs = hv.strings()
	next.stats.Addresses = len(next.byAddr)
	next.stats.Certificates = len(next.certs)
	return next
}

// addCerts copies the bytes of every certificate kept into next's arena and adds it with its
// set of itself, so that certificate n's set is set n.
func (b *builder) addCerts(next *Index, hv *headerValues) {
	for k := range b.cands {
		if b.number[k] < 0 {
			continue
		}
		c := b.cands[k].c
		c.at = len(next.arena)
		next.arena = append(next.arena, b.cands[k].region...)
		next.addSelf(&c, hv)
	}
}

// addSets adds the sets of the entries with several certificates and returns each served
// entry's set.
func (b *builder) addSets(next *Index, hv *headerValues) []uint32 {
	setOf := make([]uint32, len(b.entries))
	for i := range b.entries {
		switch {
		case !b.served[i]:
		case len(b.ofEntry[i]) == 1:
			setOf[i] = uint32(b.number[b.ofEntry[i][0]])
		default:
			certs := make([]uint32, len(b.ofEntry[i]))
			for j, k := range b.ofEntry[i] {
				certs[j] = uint32(b.number[k])
			}
			setOf[i] = next.addSet(certs, hv)
		}
	}
	return setOf
}

// addresses maps each address that has an entry to the entry's set. The keys are substrings
// of one string, so that they are one object rather than one each.
func (b *builder) addresses(setOf []uint32) map[string]uint32 {
	var text strings.Builder
	var sets []uint32
	for a, i := range b.owner {
		if i >= 0 {
			text.WriteString(a)
			text.WriteByte(0) // no address holds one: plausibleAddress
			sets = append(sets, setOf[i])
		}
	}
	all := text.String()
	byAddr := make(map[string]uint32, len(sets))
	for _, n := range sets {
		end := strings.IndexByte(all, 0)
		byAddr[all[:end]] = n
		all = all[end+1:]
	}
	return byAddr
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
