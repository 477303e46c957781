package certsource

import "hash/maphash"

// fileTable holds the OpenSSL source's record of each file, by path. A daemon
// keeps one for each file of the store (120,000 at 100,000 users), and a Go
// map of them takes more than twice the memory of a table of their pointers
// alone (docs/BENCHMARKS.md, "The OpenSSL source's memory, issue 17"): open
// addressing, linear probing, at most three quarters full. A record is
// replaced in its slot, never removed by itself.
type fileTable struct {
	seed  maphash.Seed
	slots []*cachedFile // a power of two of them, or none
	n     int
}

func newFileTable(n int) *fileTable {
	t := &fileTable{seed: maphash.MakeSeed()}
	if n > 0 {
		t.slots = make([]*cachedFile, tableSize(n))
	}
	return t
}

// tableSize is the number of slots that holds n records at most three
// quarters full.
func tableSize(n int) int {
	size := 64
	for size/4*3 < n {
		size *= 2
	}
	return size
}

func (t *fileTable) len() int { return t.n }

// get is the record of path, nil when there is none.
func (t *fileTable) get(path string) *cachedFile {
	if t.n == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := int(maphash.String(t.seed, path)) & mask; ; i = (i + 1) & mask {
		if f := t.slots[i]; f == nil || f.path == path {
			return f
		}
	}
}

// getBytes is get of a path the caller has as bytes, making no string of it.
func (t *fileTable) getBytes(path []byte) *cachedFile {
	if t.n == 0 {
		return nil
	}
	mask := len(t.slots) - 1
	for i := int(maphash.Bytes(t.seed, path)) & mask; ; i = (i + 1) & mask {
		if f := t.slots[i]; f == nil || f.path == string(path) {
			return f
		}
	}
}

// put makes f the record of its path, in place of the one it had.
func (t *fileTable) put(f *cachedFile) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	mask := len(t.slots) - 1
	for i := int(maphash.String(t.seed, f.path)) & mask; ; i = (i + 1) & mask {
		switch old := t.slots[i]; {
		case old == nil:
			t.slots[i] = f
			t.n++
			return
		case old.path == f.path:
			t.slots[i] = f
			return
		}
	}
}

func (t *fileTable) grow() {
	old := t.slots
	t.slots, t.n = make([]*cachedFile, max(2*len(old), 64)), 0
	for _, f := range old {
		if f != nil {
			t.put(f)
		}
	}
}

// each calls fn with every record.
func (t *fileTable) each(fn func(*cachedFile)) {
	for _, f := range t.slots {
		if f != nil {
			fn(f)
		}
	}
}
