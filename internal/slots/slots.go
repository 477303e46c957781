// Package slots is an open-addressing hash index of positions in a list its
// caller keeps, the list holding the keys. It replaces a Go map keyed by
// something the list already holds (a path, a DN, an address, a serial, a
// hash): such a map keeps each key a second time, in slots of key, value and
// tophash, and at 100,000 users took about twice the memory of the list and
// an index of 4-byte positions (docs/BENCHMARKS.md, "The pass's own data,
// issue 17", "The OpenSSL source's memory, issue 17" and "Lookup memory in
// the daemon, issue 17").
//
// The caller hashes its keys; one hashing strings that others choose (the
// lookup's addresses come from clients) uses hash/maphash with a random
// seed, so that nobody can choose keys that collide. Probing is linear, and
// the index is at most half full: an unsuccessful search (an address nobody
// has, a file not seen yet) looks at 2.5 slots on average at half full and
// 8.5 at three quarters, and the memory saved at three quarters is 2 bytes an
// entry, little beside the keys. Entries are never removed: a caller replaces
// what its list holds at a position.
package slots

import "math"

// Index finds positions of a list by the hashes of their keys. The zero
// Index is empty and grows on the first Put. An Index is read by several
// goroutines at once only while none puts.
type Index struct {
	slots []int32 // position+1, 0 for a free slot; a power of two of them, or none
	n     int     // slots in use
}

// Free is where Find saw that a key would go: the slot, and the key's hash
// for Put to look again when the index has grown.
type Free struct {
	h    uint64
	slot int // -1 when the index has no slot
}

// minSlots is the size of the smallest index that has any slot.
const minSlots = 8

// New is an index with room for n entries before it grows.
func New(n int) Index {
	if n <= 0 {
		return Index{}
	}
	size := minSlots
	for size < 2*n {
		size <<= 1
	}
	return Index{slots: make([]int32, size)}
}

// Len is the number of positions put.
func (x *Index) Len() int { return x.n }

// Size is the number of slots, 4 bytes each.
func (x *Index) Size() int { return len(x.slots) }

// Find returns the position of the entry with hash h that is, by is, the
// one looked for; or -1, and where to Put it.
func (x *Index) Find(h uint64, is func(pos int) bool) (pos int, free Free) {
	if len(x.slots) == 0 {
		return -1, Free{h: h, slot: -1}
	}
	mask := uint64(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		v := x.slots[i]
		if v == 0 {
			return -1, Free{h: h, slot: int(i)}
		}
		if is(int(v - 1)) {
			return int(v - 1), Free{h: h, slot: -1}
		}
	}
}

// Put records that the entry at pos has the key Find did not find, and
// grows the index first when it would be more than half full. hashAt is the
// hash of the entry at a position put before (never of pos: a caller may put
// an entry before it joins its list); only growing calls it.
func (x *Index) Put(free Free, pos int, hashAt func(pos int) uint64) {
	if pos < 0 || pos >= math.MaxInt32 {
		panic("slots: position out of range")
	}
	if 2*(x.n+1) > len(x.slots) {
		x.grow(hashAt)
		free.slot = -1
	}
	if free.slot < 0 {
		free.slot = x.freeSlot(free.h)
	}
	x.slots[free.slot] = int32(pos + 1)
	x.n++
}

// freeSlot is the first free slot from where h starts.
func (x *Index) freeSlot(h uint64) int {
	mask := uint64(len(x.slots) - 1)
	i := h & mask
	for x.slots[i] != 0 {
		i = (i + 1) & mask
	}
	return int(i)
}

// grow doubles the index and puts each entry in it again.
func (x *Index) grow(hashAt func(pos int) uint64) {
	old := x.slots
	x.slots = make([]int32, max(2*len(old), minSlots))
	for _, v := range old {
		if v != 0 {
			x.slots[x.freeSlot(hashAt(int(v-1)))] = v
		}
	}
}
