package strchunks

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"
)

// TestCopiesStayWhatTheyWere: every copy, in a chunk or on its own, is its
// value after many more are made; small ones share chunks, large ones do not.
func TestCopiesStayWhatTheyWere(t *testing.T) {
	c := &Chunks{Size: 1024}
	var want, got []string
	for i := range 2000 {
		v := fmt.Sprintf("user%d@corp.example", i)
		if i%100 == 0 {
			v = strings.Repeat("x", 300+i%7) // more than a quarter of a chunk
		}
		want = append(want, v)
		if i%2 == 0 {
			got = append(got, c.String(v))
		} else {
			got = append(got, c.Bytes([]byte(v)))
		}
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("copy %d is %q, want %q", i, got[i], want[i])
		}
	}
	if !adjacent(got[1], got[2]) {
		t.Errorf("two small copies in a row are not in one chunk")
	}
	if adjacent(got[99], got[100]) || adjacent(got[100], got[101]) {
		t.Errorf("a large copy was put in a chunk")
	}
	var none *Chunks
	if s := none.String("a"); s != "a" {
		t.Errorf("nil Chunks: %q", s)
	}
}

// adjacent reports whether b starts where a ends in memory.
func adjacent(a, b string) bool {
	return uintptr(unsafe.Pointer(unsafe.StringData(a)))+uintptr(len(a)) == uintptr(unsafe.Pointer(unsafe.StringData(b)))
}

// TestCopiesOfABufferWrittenOver hands Chunks one buffer written over again
// and again, as ldapgal's streaming reader does, and checks every copy.
func TestCopiesOfABufferWrittenOver(t *testing.T) {
	var c Chunks
	buf := make([]byte, 0, DefaultSize)
	var got, want []string
	for i := range 5000 { // several chunks, and strings too large for one
		w := fmt.Sprintf("uid=user%06d,ou=people,dc=example,dc=com", i)
		if i%1000 == 0 {
			w = strings.Repeat("x", DefaultSize/4+1+i)
		}
		buf = append(buf[:0], w...)
		got, want = append(got, c.Bytes(buf)), append(want, w)
		clear(buf)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("string %d = %.40q, want %.40q", i, got[i], want[i])
		}
	}
	if s := c.Bytes(nil); s != "" {
		t.Fatalf("empty string = %q", s)
	}
}
