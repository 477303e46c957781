package ldapgal

import (
	"testing"
)

// TestEntryArenaNil is the path of User: a nil arena allocates.
func TestEntryArenaNil(t *testing.T) {
	var a *entryArena
	if a.name([]byte("cn=a")) != "cn=a" || a.addr([]byte("a@b")) != "a@b" {
		t.Fatal("a nil arena does not copy")
	}
}
