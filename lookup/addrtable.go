package lookup

import (
	"hash/maphash"
	"math/bits"
)

// noSet is the value of an address that several entries have: it is not served.
const noSet = ^uint32(0)

// addrTable maps the folded addresses to numbers: first each address's entry while an index
// is built, then its set. It is an open-addressing hash table of plain numbers, the addresses
// back to back in one slice: a map of 100,000 strings took twice the memory and gave the
// collector a pointer per address to follow in every cycle (docs/BENCHMARKS.md, "Lookup
// memory in the daemon, issue 17"). The seed is random, so that a client cannot choose addresses that
// collide. Read-only once built.
type addrTable struct {
	seed  maphash.Seed
	text  []byte   // the addresses, back to back
	ends  []uint32 // address a is text[ends[a-1]:ends[a]], the first from 0
	vals  []uint32 // address a's number; noSet when several entries have it
	slots []uint32 // 1 + an address, 0 for none; at most half of them used
}

// newAddrTable makes a table for at most n addresses of size bytes in all.
func newAddrTable(n, size int) addrTable {
	slots := 0
	if n > 0 {
		slots = 1 << bits.Len(uint(2*n-1)) // a power of two, at least 2n
	}
	return addrTable{
		seed:  maphash.MakeSeed(),
		text:  make([]byte, 0, size),
		ends:  make([]uint32, 0, n),
		vals:  make([]uint32, 0, n),
		slots: make([]uint32, slots),
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

// slot is where s is, or the empty slot where it would go.
func (t *addrTable) slot(s string) int {
	mask := uint64(len(t.slots) - 1)
	for i := maphash.String(t.seed, s) & mask; ; i = (i + 1) & mask {
		if a := t.slots[i]; a == 0 || string(t.addr(a-1)) == s {
			return int(i)
		}
	}
}

// find is the number of address s.
func (t *addrTable) find(s string) (uint32, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	a := t.slots[t.slot(s)]
	if a == 0 || t.vals[a-1] == noSet {
		return 0, false
	}
	return t.vals[a-1], true
}

// insert adds s with the number v and returns it; when s is there already it returns it
// unchanged, and true. The table must have room (newAddrTable's n).
func (t *addrTable) insert(s string, v uint32) (a uint32, found bool) {
	i := t.slot(s)
	if a := t.slots[i]; a != 0 {
		return a - 1, true
	}
	t.text = append(t.text, s...)
	t.ends = append(t.ends, uint32(len(t.text)))
	t.vals = append(t.vals, v)
	t.slots[i] = uint32(len(t.vals))
	return uint32(len(t.vals) - 1), false
}
