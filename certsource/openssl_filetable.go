package certsource

import (
	"hash/maphash"

	"github.com/certgal/certgal/internal/slots"
)

// fileTable holds the OpenSSL source's record of each file, by path: the
// records in a list with a slots index of them. A daemon keeps one for each
// file of the store (120,000 at 100,000 users), and a Go map of them takes
// more than twice the memory (docs/BENCHMARKS.md, "The OpenSSL source's
// memory, issue 17"). A record is replaced in its place, never removed by
// itself.
type fileTable struct {
	seed  maphash.Seed
	files []*cachedFile
	index slots.Index
}

func newFileTable(n int) *fileTable {
	return &fileTable{seed: maphash.MakeSeed(), files: make([]*cachedFile, 0, n), index: slots.New(n)}
}

func (t *fileTable) len() int { return len(t.files) }

// get is the record of path, nil when there is none.
func (t *fileTable) get(path string) *cachedFile {
	pos, _ := t.find(path)
	if pos < 0 {
		return nil
	}
	return t.files[pos]
}

func (t *fileTable) find(path string) (int, slots.Free) {
	return t.index.Find(maphash.String(t.seed, path), func(i int) bool { return t.files[i].path == path })
}

// getBytes is get of a path the caller has as bytes, making no string of it.
func (t *fileTable) getBytes(path []byte) *cachedFile {
	pos, _ := t.index.Find(maphash.Bytes(t.seed, path), func(i int) bool { return t.files[i].path == string(path) })
	if pos < 0 {
		return nil
	}
	return t.files[pos]
}

// put makes f the record of its path, in place of the one it had.
func (t *fileTable) put(f *cachedFile) {
	pos, free := t.find(f.path)
	if pos >= 0 {
		t.files[pos] = f
		return
	}
	t.index.Put(free, len(t.files), func(i int) uint64 { return maphash.String(t.seed, t.files[i].path) })
	t.files = append(t.files, f)
}

// each calls fn with every record, in the order their paths were first put.
func (t *fileTable) each(fn func(*cachedFile)) {
	for _, f := range t.files {
		fn(f)
	}
}
