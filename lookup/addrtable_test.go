package lookup

import (
	"fmt"
	"testing"
)

func TestAddrTable(t *testing.T) {
	const n = 5000
	tab := newAddrTable(100, 0) // it grows: n and size are hints
	for i := range n {
		if a, dup := tab.insert(fmt.Sprintf("user%d@corp.example", i), uint32(i)); dup || a != uint32(i) {
			t.Fatalf("insert %d: %d, %v", i, a, dup)
		}
	}
	if a, dup := tab.insert("user17@corp.example", 99); !dup || a != 17 || tab.vals[a] != 17 {
		t.Errorf("insert of an address there already: %d, %v, value %d", a, dup, tab.vals[a])
	}
	for i := range n {
		if v, ok := tab.find(fmt.Sprintf("user%d@corp.example", i)); !ok || v != uint32(i) {
			t.Fatalf("find %d: %d, %v", i, v, ok)
		}
	}
	tab.vals[42] = noSet
	for _, s := range []string{"user42@corp.example", "user5000@corp.example", "", "user1@corp.exampl"} {
		if v, ok := tab.find(s); ok {
			t.Errorf("find %q: %d", s, v)
		}
	}
	var empty addrTable
	if _, ok := empty.find("alice@corp.example"); ok {
		t.Error("the empty table found an address")
	}
	e := newAddrTable(0, 0)
	if e.index.Size() != 0 {
		t.Errorf("a table for no address has %d slots", e.index.Size())
	}
	if _, ok := e.find("alice@corp.example"); ok {
		t.Error("a table for no address found an address")
	}
}
