package ldapgal

import (
	"bytes"
	"fmt"
	"testing"
)

// TestStringArenaCopies hands the arena one buffer written over again and
// again, as the streaming reader does, and checks every string it gave.
func TestStringArenaCopies(t *testing.T) {
	var a stringArena
	buf := make([]byte, 0, arenaChunk)
	var got, want []string
	for i := range 5000 { // several chunks, and strings too large for one
		w := fmt.Sprintf("uid=user%06d,ou=people,dc=example,dc=com", i)
		if i%1000 == 0 {
			w = string(bytes.Repeat([]byte{'x'}, arenaChunk/4+1+i))
		}
		buf = append(buf[:0], w...)
		got, want = append(got, a.string(buf)), append(want, w)
		clear(buf)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("string %d = %.40q, want %.40q", i, got[i], want[i])
		}
	}
	if s := a.string(nil); s != "" {
		t.Fatalf("empty string = %q", s)
	}
}

// TestEntryArenaNil is the path of User: a nil arena allocates.
func TestEntryArenaNil(t *testing.T) {
	var a *entryArena
	if a.name([]byte("cn=a")) != "cn=a" || a.addr([]byte("a@b")) != "a@b" {
		t.Fatal("a nil arena does not copy")
	}
}
