package sync

import (
	"fmt"
	"testing"
)

func TestDNIndex(t *testing.T) {
	for _, size := range []int{0, 1000} { // 0: the index grows
		var dns []string
		x := newDNIndex(size, func(i int) string { return dns[i] })
		add := func(dn string) int {
			first := x.add(dn, len(dns))
			dns = append(dns, dn)
			return first
		}
		for i := range 300 {
			if got := add(fmt.Sprintf("uid=user%d,dc=example", i)); got != i {
				t.Fatalf("size %d: a new DN at %d is first at %d", size, i, got)
			}
		}
		// A DN held again, and one that differs in case only (DNs are kept as read).
		if got := add("uid=user7,dc=example"); got != 7 {
			t.Errorf("size %d: a DN held again is first at %d, want 7", size, got)
		}
		if got := add("UID=user7,dc=example"); got != len(dns)-1 {
			t.Errorf("size %d: a DN in other case is first at %d, want its own position", size, got)
		}
		if pos, ok := x.first("uid=user299,dc=example"); !ok || pos != 299 {
			t.Errorf("size %d: first(user299) = %d, %v", size, pos, ok)
		}
		if _, ok := x.first("uid=nobody,dc=example"); ok {
			t.Errorf("size %d: found a DN never added", size)
		}
	}
}
