package sync

import (
	"fmt"
	"slices"
	"testing"
)

// TestUserTableKeepsEachUser puts users of every shape in a table, the way
// Calculate does and the way a pass's read does, and reads each one back:
// at gives all but the CSN, csn gives that.
func TestUserTableKeepsEachUser(t *testing.T) {
	a, b := &Cert{Hash: [32]byte{0x0a}}, &Cert{Hash: [32]byte{0x0b}}
	blob := &Blob{}
	users := []User{
		{DN: "cn=none"},
		{DN: "cn=alice", Addresses: []string{"alice@corp.example", "SMTP:Alice@corp.example"}, Values: []*Cert{a, b}, CSN: "20261206000000.000001Z#000000#000#000000"},
		{DN: "cn=blobs", Addresses: []string{"b@corp.example"}, SMIME: []*Blob{blob}},
		{DN: "cn=values", Values: []*Cert{b}},
		{DN: "cn=odd", CSN: "20261206000000Z#000000#000#000000"}, // not slapd's form: kept as text
		{DN: "cn=after", CSN: "20261206000000.000002Z#000000#000#00000a"},
	}
	for i := range 3000 { // several slabs' worth
		users = append(users, User{DN: fmt.Sprintf("cn=u%d", i), Addresses: []string{fmt.Sprintf("u%d@corp.example", i)}, Values: []*Cert{a}})
	}
	read := newUserTable(tableSize{users: 2})
	for _, u := range users {
		vs := read.newValues(len(u.Values))
		copy(vs, u.Values)
		read.addRead(User{DN: u.DN, Addresses: u.Addresses, Values: vs, SMIME: u.SMIME, CSN: u.CSN})
	}
	for name, tab := range map[string]*userTable{"usersOf": usersOf(users), "read": read} {
		if tab.len() != len(users) {
			t.Fatalf("%s: %d users, want %d", name, tab.len(), len(users))
		}
		for i, want := range users {
			got := tab.at(i)
			if got.DN != want.DN || got.CSN != "" || tab.csn(i) != want.CSN || tab.dn(i) != want.DN ||
				!slices.Equal(got.Addresses, want.Addresses) || !slices.Equal(got.Values, want.Values) || !slices.Equal(got.SMIME, want.SMIME) {
				t.Fatalf("%s: user %d = %+v (CSN %q), want %+v", name, i, got, tab.csn(i), want)
			}
			if cap(got.Addresses) != len(got.Addresses) || cap(got.Values) != len(got.Values) {
				t.Fatalf("%s: user %d's lists reach into the next user's", name, i)
			}
		}
	}
}

func TestUserTableNewValuesAreNil(t *testing.T) {
	tab := newUserTable(tableSize{})
	vs := tab.newValues(2)
	vs[0], vs[1] = &Cert{}, &Cert{}
	tab.addRead(User{DN: "cn=a", Values: vs})
	if got := tab.newValues(3); len(got) != 3 || got[0] != nil || got[1] != nil || got[2] != nil {
		t.Fatalf("newValues(3) = %v, want three nil values", got)
	}
	if v := tab.at(0).Values; v[0] == nil || v[1] == nil {
		t.Fatalf("the first user's values are now %v", v)
	}
}
