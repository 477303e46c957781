package sync

import (
	"fmt"
	"testing"
)

func TestAddrIndexClaims(t *testing.T) {
	x := newAddrIndex(1) // grows
	for i := range 1000 {
		x.claim(fmt.Sprintf("u%d@corp.example", i), i)
	}
	x.claim("u7@corp.example", 7) // the same user again: still 7's
	x.claim("u8@corp.example", 9) // another user: nobody's
	for a, want := range map[string]int{"u0@corp.example": 0, "u7@corp.example": 7, "u999@corp.example": 999, "u8@corp.example": manyUsers} {
		if got, ok := x.user(a); !ok || got != want {
			t.Errorf("user(%q) = %d, %v; want %d", a, got, ok, want)
		}
	}
	if _, ok := x.user("nobody@corp.example"); ok {
		t.Error("an address nobody claims has a user")
	}
	if !x.claimedByMany("u8@corp.example") || x.claimedByMany("u7@corp.example") || x.claimedByMany("nobody@corp.example") {
		t.Error("claimedByMany is wrong")
	}
}
