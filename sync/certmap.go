package sync

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"slices"
)

// certMap finds a Cert by the SHA-256 of its DER. It is the classifier's
// largest piece after the Certs themselves, so it is a few arrays rather than
// a map of every entry: the Certs ordered by hash, the first 8 bytes of each
// hash in an array of their own, and a table by the hashes' top bits of where
// each run of those keys starts. Hashes are uniform, so a run holds a few
// keys and a lookup costs what a map's does, where a binary search over all
// of them cost more (docs/BENCHMARKS.md, "The classification cache in a dense
// form"). What is put between two compactions waits in a map, kept small:
// compact merges it into the order, and put does so when it grows past a
// part of the whole. Two hashes can share a prefix (anybody who can put two
// values in the directory can make them do so with 2^32 tries): they sit
// side by side, and the Cert found is checked against the whole hash.
type certMap struct {
	// keys[i] is the prefix of sorted[i]'s hash; a removed Cert leaves a nil
	// in sorted, its key staying, until the next compaction.
	keys   []uint64
	sorted []*Cert
	live   int // non-nil entries of sorted
	added  map[[32]byte]*Cert
	// start[b] is the first index of keys whose top shift bits are b or
	// more; it has a last entry of len(keys).
	start []uint32
	shift uint
}

// addedShare is the part of the ordered entries that put lets wait in the
// map before it merges them: a first pass without a file cache merges its
// Certs a few times over instead of holding a map of them all.
const (
	addedShare = 4
	addedMin   = 4096
)

func newCertMap(n int) certMap {
	return certMap{keys: make([]uint64, 0, n), sorted: make([]*Cert, 0, n)}
}

// sortedCertMap holds certs, which it orders; of two with the same hash the
// later is kept, as put would. SaveFile writes them in order: a file read
// back is not sorted again.
func sortedCertMap(certs []*Cert) certMap {
	byHash := func(a, b *Cert) int { return bytes.Compare(a.Hash[:], b.Hash[:]) }
	if !slices.IsSortedFunc(certs, byHash) {
		slices.SortStableFunc(certs, byHash)
	}
	out := certs[:0]
	for i, c := range certs {
		if i+1 < len(certs) && certs[i+1].Hash == c.Hash {
			continue
		}
		out = append(out, c)
	}
	clear(certs[len(out):])
	keys := make([]uint64, len(out))
	for i, c := range out {
		keys[i] = prefix(c.Hash)
	}
	m := certMap{keys: keys, sorted: out, live: len(out)}
	m.index()
	return m
}

// index makes start for keys: a bucket for every 4 keys, or so.
func (m *certMap) index() {
	b := bits.Len(uint(len(m.keys) / 4))
	m.shift = uint(64 - b)
	n := 1<<b + 1
	if cap(m.start) >= n {
		m.start = m.start[:n]
	} else {
		m.start = make([]uint32, n)
	}
	i := 0
	for bucket := range m.start {
		for i < len(m.keys) && m.keys[i]>>m.shift < uint64(bucket) {
			i++
		}
		m.start[bucket] = uint32(i)
	}
}

func prefix(h [32]byte) uint64 { return binary.BigEndian.Uint64(h[:8]) }

// find is the index in sorted of the Cert with hash h; -1 when none.
func (m *certMap) find(h [32]byte) int {
	if len(m.keys) == 0 {
		return -1
	}
	p := prefix(h)
	b := p >> m.shift
	lo, hi := int(m.start[b]), int(m.start[b+1])
	i, _ := slices.BinarySearch(m.keys[lo:hi], p)
	for i += lo; i < len(m.keys) && m.keys[i] == p; i++ {
		if c := m.sorted[i]; c != nil && c.Hash == h {
			return i
		}
	}
	return -1
}

func (m *certMap) get(h [32]byte) *Cert {
	if i := m.find(h); i >= 0 {
		return m.sorted[i]
	}
	return m.added[h] // nil when added is
}

// put adds c, or replaces the Cert of the same hash.
func (m *certMap) put(c *Cert) {
	if i := m.find(c.Hash); i >= 0 {
		m.sorted[i] = c
		return
	}
	if m.added == nil {
		m.added = map[[32]byte]*Cert{}
	}
	m.added[c.Hash] = c
	if len(m.added) > max(addedMin, m.live/addedShare) {
		m.compact()
	}
}

// remove forgets h.
func (m *certMap) remove(h [32]byte) {
	if i := m.find(h); i >= 0 {
		m.sorted[i] = nil
		m.live--
		return
	}
	delete(m.added, h)
}

func (m *certMap) len() int { return m.live + len(m.added) }

// each calls f with every Cert; f may remove the Cert it is given.
func (m *certMap) each(f func(*Cert)) {
	for _, c := range m.sorted {
		if c != nil {
			f(c)
		}
	}
	for _, c := range m.added {
		f(c)
	}
}

// growTo is s at length n, the elements past its length for the caller to
// write: in place when it has room, else in an array of n exactly (not
// append's quarter more: the arrays are held between passes).
func growTo[T any](s []T, n int) []T {
	if cap(s) >= n {
		return s[:n]
	}
	out := make([]T, n)
	copy(out, s)
	return out
}

// compact drops the removed entries and merges the added ones into the
// order, in place: the arrays grow only by what was added.
func (m *certMap) compact() {
	if m.live == len(m.sorted) && len(m.added) == 0 {
		return
	}
	n := 0
	for _, c := range m.sorted {
		if c != nil {
			m.sorted[n], m.keys[n] = c, prefix(c.Hash)
			n++
		}
	}
	add := make([]*Cert, 0, len(m.added))
	for _, c := range m.added {
		add = append(add, c)
	}
	slices.SortFunc(add, func(a, b *Cert) int { return bytes.Compare(a.Hash[:], b.Hash[:]) })
	total := n + len(add)
	m.sorted, m.keys = growTo(m.sorted[:n], total), growTo(m.keys[:n], total)
	clear(m.sorted[total:cap(m.sorted)])
	// Merged from the back, so that no entry is overwritten before it moved.
	i, j := n-1, len(add)-1
	for k := total - 1; j >= 0; k-- {
		if i >= 0 && bytes.Compare(m.sorted[i].Hash[:], add[j].Hash[:]) > 0 {
			m.sorted[k] = m.sorted[i]
			i--
		} else {
			m.sorted[k] = add[j]
			j--
		}
		m.keys[k] = prefix(m.sorted[k].Hash)
	}
	m.live, m.added = total, nil
	m.index()
}
