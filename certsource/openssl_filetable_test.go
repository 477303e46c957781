package certsource

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
)

// TestFileTable: a record is found by its path, as a string or as bytes,
// through every growth of the table, with its path and serial; put replaces
// the record of a path it has, in its place.
func TestFileTable(t *testing.T) {
	for _, hint := range []int{0, 10, 1000} {
		tab := newFileTable(hint)
		if tab.find("none") >= 0 || tab.findBytes([]byte("none")) >= 0 {
			t.Fatal("empty table found a record")
		}
		const n = 5000
		for i := range n {
			// Half the serials are their file's name (but for leading zeros), half are not.
			at, replaced := tab.put(fmt.Sprintf("/ca/newcerts/%04X.pem", i), fmt.Sprintf("%X", i+i%2), fileRecord{ino: uint64(i)})
			if int(at) != i || replaced {
				t.Fatalf("hint %d: put %d at %d, replaced %v", hint, i, at, replaced)
			}
		}
		want := cap(tab.recs) + 10
		tab.reserve(want) // records are kept, in their places
		if cap(tab.recs) != want {
			t.Fatalf("hint %d: reserved room for %d records, want %d", hint, cap(tab.recs), want)
		}
		for i := 0; i < n; i += 3 {
			at, replaced := tab.put(fmt.Sprintf("/ca/newcerts/%04X.pem", i), "AGAIN", fileRecord{ino: uint64(i) + n})
			if int(at) != i || !replaced {
				t.Fatalf("hint %d: put %d again at %d, replaced %v", hint, i, at, replaced)
			}
		}
		if tab.len() != n {
			t.Fatalf("hint %d: %d records, want %d", hint, tab.len(), n)
		}
		for i := range n {
			p := fmt.Sprintf("/ca/newcerts/%04X.pem", i)
			at, byBytes := tab.find(p), tab.findBytes([]byte(p))
			serial, ino := fmt.Sprintf("%X", i+i%2), uint64(i)
			if i%3 == 0 {
				serial, ino = "AGAIN", uint64(i)+n
			}
			if int(at) != i || at != byBytes || tab.path(at) != p || tab.serial(at) != serial || tab.rec(at).ino != ino ||
				!tab.names.serialIs(tab.rec(at).name, serial) || tab.names.serialIs(tab.rec(at).name, serial+"0") {
				t.Fatalf("hint %d: %s: at %d (by bytes %d), path %q, serial %q", hint, p, at, byBytes, tab.path(at), tab.serial(at))
			}
		}
		b := []byte("/ca/newcerts/0007.pem")
		if allocs := testing.AllocsPerRun(100, func() { tab.findBytes(b) }); allocs != 0 {
			t.Errorf("hint %d: findBytes allocates %v times", hint, allocs)
		}
		if tab.find("/ca/newcerts/FFFF.pem") >= 0 || tab.find("/ca/newcerts/0007.pe") >= 0 || tab.find("/ca/newcerts0007.pem") >= 0 {
			t.Errorf("hint %d: found a path never put", hint)
		}
		if tab.index.Len() != tab.len() {
			t.Errorf("hint %d: %d records, %d in the index", hint, tab.len(), tab.index.Len())
		}
	}
}

// TestFileNames: an entry gives back the path and serial it was added with,
// whatever the path's directory (none, several) and whether the serial is
// its file's name; a view names what was added before it while more is
// added.
func TestFileNames(t *testing.T) {
	cases := []struct{ path, serial string }{
		{"/ca/newcerts/0A.pem", "A"},
		{"/ca/newcerts/00.pem", "0"},
		{"/ca/newcerts/0A.pem", "0A"},
		{"/ca/certs/1F.crt", "1F"},
		{"/ca/certs/1f.crt", "1F"},
		{"rel.pem", "REL"},
		{"", ""},
		{"/ca/issued/alice.crt", "-2B"},
		{"/ca/issued/", "5"},
		{"/ca/newcerts/.pem", ""},
	}
	var n fileNames
	offs := make([]uint32, len(cases))
	for i, c := range cases {
		offs[i] = n.add(c.path, c.serial)
	}
	v := n.view()
	for i := range 1000 {
		n.add(fmt.Sprintf("/other/%d/%d.pem", i, i), "X")
	}
	for _, names := range []*fileNames{&n, v} {
		for i, c := range cases {
			if p, s := names.path(offs[i]), names.serial(offs[i]); p != c.path || s != c.serial || !names.pathIs(offs[i], c.path) ||
				!names.serialIs(offs[i], c.serial) {
				t.Errorf("%+v: path %q, serial %q", c, p, s)
			}
		}
	}
}

// TestFoundDirs: the directories a read must watch are those of the files
// it found, as filepath.Dir has them, whether the cache names a file or the
// read has its path, and none of a file not found.
func TestFoundDirs(t *testing.T) {
	o := &OpenSSL{cache: newFileTable(0)}
	paths := []string{"/ca/newcerts/01.pem", "/ca/newcerts/02.pem", "x.pem", "/ca/certs/03.pem", "rel/y.pem", "/ca/newcerts/04.pem"}
	var files []fileResult
	for _, p := range paths {
		at, _ := o.cache.put(p, "1", fileRecord{})
		files = append(files, fileResult{at: at, found: true})
	}
	files = append(files, fileResult{at: -1, found: true, bad: &fileError{path: "/other/z.pem"}}, fileResult{at: -1},
		fileResult{at: 0, found: true, bad: &fileError{err: errors.New("unreadable")}})
	want, got := map[string]bool{}, map[string]bool{}
	for _, p := range append(paths, "/other/z.pem") {
		want[filepath.Dir(p)] = true
	}
	for _, p := range o.foundDirs(files) {
		got[filepath.Dir(p)] = true
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("directories %v, want %v", got, want)
	}
}
