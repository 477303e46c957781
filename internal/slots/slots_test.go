package slots

import (
	"fmt"
	"hash/maphash"
	"testing"
)

// list is a caller's list of keys with an Index of them, as callers keep one.
type list struct {
	keys  []string
	index Index
	hash  func(string) uint64
}

func (l *list) find(k string) (int, Free) {
	return l.index.Find(l.hash(k), func(pos int) bool { return l.keys[pos] == k })
}

// add puts k at the end of the list unless it is there, and returns its position.
func (l *list) add(k string) int {
	pos, free := l.find(k)
	if pos >= 0 {
		return pos
	}
	// Put before the key joins the list, as a caller may: growing never
	// asks for the hash of the position being put.
	l.index.Put(free, len(l.keys), func(p int) uint64 { return l.hash(l.keys[p]) })
	l.keys = append(l.keys, k)
	return len(l.keys) - 1
}

func TestIndex(t *testing.T) {
	seed := maphash.MakeSeed()
	hashes := []struct {
		name string
		hash func(string) uint64
	}{
		{"maphash", func(s string) uint64 { return maphash.String(seed, s) }},
		{"constant", func(string) uint64 { return 12345 }}, // every key collides
		{"two values", func(s string) uint64 { return uint64(len(s) % 2) }},
		{"top bits only", func(s string) uint64 { return maphash.String(seed, s) << 40 }},
	}
	for _, h := range hashes {
		for _, hint := range []int{0, 1, 3, 100, 1000} { // below 300: it grows, beyond the initial size
			t.Run(fmt.Sprintf("%s/hint%d", h.name, hint), func(t *testing.T) {
				l := &list{index: New(hint), hash: h.hash}
				n := 300
				for i := range n {
					if got := l.add(fmt.Sprintf("key%d", i)); got != i {
						t.Fatalf("new key %d at %d", i, got)
					}
				}
				for i := range n { // again: each is found, none is added
					if got := l.add(fmt.Sprintf("key%d", i)); got != i {
						t.Fatalf("key %d again at %d", i, got)
					}
				}
				if l.index.Len() != n || len(l.keys) != n {
					t.Fatalf("%d entries, %d keys; want %d", l.index.Len(), len(l.keys), n)
				}
				if size := l.index.Size(); 2*l.index.Len() > size || size&(size-1) != 0 {
					t.Errorf("%d entries in %d slots: more than half full, or not a power of two", l.index.Len(), size)
				}
				for _, k := range []string{"key300", "", "key", "key1 "} {
					if pos, _ := l.find(k); pos >= 0 {
						t.Errorf("found %q, never put, at %d", k, pos)
					}
				}
			})
		}
	}
}

func TestNew(t *testing.T) {
	for _, c := range []struct{ n, size int }{{-1, 0}, {0, 0}, {1, 8}, {4, 8}, {5, 16}, {1000, 2048}, {1024, 2048}, {1025, 4096}} {
		x := New(c.n)
		if x.Size() != c.size || x.Len() != 0 {
			t.Errorf("New(%d): %d slots, %d entries; want %d slots", c.n, x.Size(), x.Len(), c.size)
		}
	}
}

// TestZero: the zero Index finds nothing, and grows on the first Put.
func TestZero(t *testing.T) {
	var x Index
	if pos, _ := x.Find(7, func(int) bool { t.Fatal("is called on an empty index"); return true }); pos >= 0 {
		t.Fatalf("the zero Index found %d", pos)
	}
	_, free := x.Find(7, nil)
	x.Put(free, 41, func(int) uint64 { t.Fatal("hashAt called with nothing to rehash"); return 0 })
	if pos, _ := x.Find(7, func(p int) bool { return p == 41 }); pos != 41 || x.Len() != 1 || x.Size() != minSlots {
		t.Errorf("after a Put: found %d, %d entries in %d slots", pos, x.Len(), x.Size())
	}
}

// TestPositions: positions need not be in order nor dense, and a growth
// keeps each one where its hash leads.
func TestPositions(t *testing.T) {
	x := New(2)
	hashOf := func(pos int) uint64 { return uint64(pos) * 0x9E3779B97F4A7C15 }
	for i := range 100 {
		pos := 1_000_000 + 7*(99-i)
		_, free := x.Find(hashOf(pos), func(int) bool { return false })
		x.Put(free, pos, hashOf)
	}
	for i := range 100 {
		pos := 1_000_000 + 7*i
		if got, _ := x.Find(hashOf(pos), func(p int) bool { return p == pos }); got != pos {
			t.Errorf("position %d found as %d", pos, got)
		}
	}
}

func TestPutOutOfRange(t *testing.T) {
	for _, pos := range []int{-1, 1 << 31} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Put of position %d did not panic", pos)
				}
			}()
			var x Index
			_, free := x.Find(1, nil)
			x.Put(free, pos, nil)
		}()
	}
}
