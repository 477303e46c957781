package sync

// slots is an open-addressing hash index into a list its user keeps: a
// slot holds an entry's position plus one, 0 when free. At 4 bytes a slot
// and two slots an entry it takes a fraction of what a Go map of the
// entries' keys takes, for the lists of every certificate in the CA store
// a pass builds while it reads the directory (docs/BENCHMARKS.md, "The
// pass's own data").
type slots []int32

// newSlots is an index for up to n entries.
func newSlots(n int) slots {
	size := 8
	for size < 2*n {
		size <<= 1
	}
	return make(slots, size)
}

// find returns the position of the entry with hash h that is, by is,
// the one looked for, or -1 and the free slot where it would go.
func (s slots) find(h uint64, is func(pos int) bool) (pos, slot int) {
	mask := uint64(len(s) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		v := s[i]
		if v == 0 {
			return -1, int(i)
		}
		if is(int(v - 1)) {
			return int(v - 1), int(i)
		}
	}
}

// put records that the entry at pos is found from the free slot slot
// (as find returned it).
func (s slots) put(slot, pos int) { s[slot] = int32(pos + 1) }
