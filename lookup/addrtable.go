package lookup

import (
	"hash/maphash"

	"github.com/certgal/certgal/internal/slots"
)

// noSet is the value of an address that several entries have: it is not served.
const noSet = ^uint32(0)

// addrTable maps the folded addresses to numbers: first each address's entry while an index
// is built, then its set. It is the addresses back to back in one slice with a slots index of
// them: a map of 100,000 strings took twice the memory and gave the collector a pointer per
// address to follow in every cycle (docs/BENCHMARKS.md, "Lookup memory in the daemon, issue
// 17"). The seed is random, so that a client cannot choose addresses that collide. Read-only
// once built.
type addrTable struct {
	seed  maphash.Seed
	text  []byte   // the addresses, back to back
	ends  []uint32 // address a is text[ends[a-1]:ends[a]], the first from 0
	vals  []uint32 // address a's number; noSet when several entries have it
	index slots.Index
}

// newAddrTable makes a table for about n addresses of size bytes in all.
func newAddrTable(n, size int) addrTable {
	return addrTable{
		seed:  maphash.MakeSeed(),
		text:  make([]byte, 0, size),
		ends:  make([]uint32, 0, n),
		vals:  make([]uint32, 0, n),
		index: slots.New(n),
	}
}

// addr is address a.
func (t *addrTable) addr(a uint32) []byte {
	start := uint32(0)
	if a > 0 {
		start = t.ends[a-1]
	}
	return t.text[start:t.ends[a]]
}

// lookFor is the address that is s, or -1 and where it would go.
func (t *addrTable) lookFor(s string) (int, slots.Free) {
	return t.index.Find(maphash.String(t.seed, s), func(a int) bool { return string(t.addr(uint32(a))) == s })
}

// find is the number of address s.
func (t *addrTable) find(s string) (uint32, bool) {
	if t.index.Len() == 0 { // and the zero table has no seed
		return 0, false
	}
	a, _ := t.lookFor(s)
	if a < 0 || t.vals[a] == noSet {
		return 0, false
	}
	return t.vals[a], true
}

// insert adds s with the number v and returns it; when s is there already it returns it
// unchanged, and true.
func (t *addrTable) insert(s string, v uint32) (a uint32, found bool) {
	at, free := t.lookFor(s)
	if at >= 0 {
		return uint32(at), true
	}
	t.text = append(t.text, s...)
	t.ends = append(t.ends, uint32(len(t.text)))
	t.vals = append(t.vals, v)
	t.index.Put(free, len(t.vals)-1, func(a int) uint64 { return maphash.Bytes(t.seed, t.addr(uint32(a))) })
	return uint32(len(t.vals) - 1), false
}
