package certsource

import (
	"fmt"
	"testing"
)

// TestFileTable: a record is found by its path, as a string or as bytes,
// through every growth of the table; put replaces the record of a path it
// has, and each visits every record once.
func TestFileTable(t *testing.T) {
	for _, hint := range []int{0, 10, 1000} {
		tab := newFileTable(hint)
		if tab.get("none") != nil || tab.getBytes([]byte("none")) != nil {
			t.Fatal("empty table found a record")
		}
		const n = 5000
		for i := range n {
			tab.put(&cachedFile{path: fmt.Sprintf("/ca/newcerts/%04X.pem", i), serial: "first"})
		}
		for i := 0; i < n; i += 2 {
			tab.put(&cachedFile{path: fmt.Sprintf("/ca/newcerts/%04X.pem", i), serial: "again"})
		}
		if tab.len() != n {
			t.Fatalf("hint %d: %d records, want %d", hint, tab.len(), n)
		}
		for i := range n {
			p := fmt.Sprintf("/ca/newcerts/%04X.pem", i)
			f, g := tab.get(p), tab.getBytes([]byte(p))
			want := "first"
			if i%2 == 0 {
				want = "again"
			}
			if f == nil || f != g || f.path != p || f.serial != want {
				t.Fatalf("hint %d: %s: %+v, by bytes %+v", hint, p, f, g)
			}
		}
		b := []byte("/ca/newcerts/0007.pem")
		if allocs := testing.AllocsPerRun(100, func() { tab.getBytes(b) }); allocs != 0 {
			t.Errorf("hint %d: getBytes allocates %v times", hint, allocs)
		}
		if tab.get("/ca/newcerts/FFFF.pem") != nil {
			t.Errorf("hint %d: found a path never put", hint)
		}
		seen := map[string]int{}
		tab.each(func(f *cachedFile) { seen[f.path]++ })
		if len(seen) != n {
			t.Errorf("hint %d: each visited %d paths, want %d", hint, len(seen), n)
		}
		for p, k := range seen {
			if k != 1 {
				t.Errorf("hint %d: each visited %s %d times", hint, p, k)
			}
		}
		if tab.index.Len() != tab.len() {
			t.Errorf("hint %d: %d records, %d in the index", hint, tab.len(), tab.index.Len())
		}
	}
}
