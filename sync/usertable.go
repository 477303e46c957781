package sync

import (
	"cmp"
	"slices"
	"strings"
)

// userTable is the users a pass read, in directory order, in a form that
// costs a few bytes a user beside what it must keep (DN, addresses, values,
// CSN): every user's addresses back to back in one list, every user's values
// in another, the CSNs packed, and the rare userSMIMECertificate blobs
// aside. A []User took 104 bytes a user and two lists of its own, and a CSN
// 48 bytes more (docs/BENCHMARKS.md, "The users a pass reads, issue 17").
// at makes a User of it when one is planned.
type userTable struct {
	recs   []userRec
	addrs  []string
	values []*Cert
	smime  []userBlobs // by user, ascending
	// csns are the users' CSNs, packed; nil while no user has one (AD).
	// csnText holds those that are not in slapd's form.
	csns    []packedCSN
	csnText map[int]string
}

// userRec is one user: its DN, and where its lists end in the table's
// (they start where the previous user's end).
type userRec struct {
	dn              string
	addrEnd, valEnd uint32
}

// userBlobs are the blobs of the user at a position.
type userBlobs struct {
	user  int
	blobs []*Blob
}

// tableSize is how long a table's lists are: a pass makes its table as
// large as the last one, rather than have lists of 100,000 grow.
type tableSize struct{ users, addrs, values int }

// newUserTable is a table of about size.
func newUserTable(size tableSize) *userTable {
	return &userTable{recs: make([]userRec, 0, size.users), addrs: make([]string, 0, size.addrs), values: make([]*Cert, 0, size.values)}
}

func (t *userTable) size() tableSize { return tableSize{len(t.recs), len(t.addrs), len(t.values)} }

// usersOf is a table of users.
func usersOf(users []User) *userTable {
	size := tableSize{users: len(users)}
	for _, u := range users {
		size.addrs += len(u.Addresses)
		size.values += len(u.Values)
	}
	t := newUserTable(size)
	for _, u := range users {
		t.add(u)
	}
	return t
}

func (t *userTable) len() int {
	if t == nil {
		return 0
	}
	return len(t.recs)
}

// dn is the DN of the user at i.
func (t *userTable) dn(i int) string { return t.recs[i].dn }

// add appends u; its lists are copied.
func (t *userTable) add(u User) {
	t.values = append(t.values, u.Values...)
	t.addRead(u)
}

// addRead appends u, whose values are the ones newValues handed out last;
// its addresses are copied.
func (t *userTable) addRead(u User) {
	t.addrs = append(t.addrs, u.Addresses...)
	if len(u.SMIME) > 0 {
		t.smime = append(t.smime, userBlobs{user: len(t.recs), blobs: u.SMIME})
	}
	t.addCSN(len(t.recs), u.CSN)
	t.recs = append(t.recs, userRec{dn: u.DN, addrEnd: uint32(len(t.addrs)), valEnd: uint32(len(t.values))})
}

// addCSN keeps csn, the CSN of the user at i, the last one added.
func (t *userTable) addCSN(i int, csn string) {
	p, packed := packCSN(csn)
	switch {
	case packed && t.csns == nil:
		t.csns = make([]packedCSN, i, max(cap(t.recs), i+1))
	case !packed && csn != "":
		if t.csnText == nil {
			t.csnText = map[int]string{}
		}
		t.csnText[i] = strings.Clone(csn) // not a slice of the chunks the directory's read carved
	}
	if t.csns != nil {
		t.csns = append(t.csns, p)
	}
}

// csn is the CSN of the user at i.
func (t *userTable) csn(i int) string {
	if s, ok := t.csnText[i]; ok {
		return s
	}
	if t.csns != nil && t.csns[i].packed() {
		return t.csns[i].String()
	}
	return ""
}

// newValues is room for the n values of the user addRead appends next,
// all nil, at the end of the table's list.
func (t *userTable) newValues(n int) []*Cert {
	start := len(t.values)
	t.values = slices.Grow(t.values, n)[:start+n]
	clear(t.values[start:])
	return t.values[start : start+n : start+n]
}

// at is the user at i, but for its CSN: csn makes it, for the few users
// whose entries a pass writes. Its lists are the table's: capacity-limited,
// so that appending to one never writes into the table.
func (t *userTable) at(i int) User {
	r := t.recs[i]
	addrStart, valStart := uint32(0), uint32(0)
	if i > 0 {
		addrStart, valStart = t.recs[i-1].addrEnd, t.recs[i-1].valEnd
	}
	u := User{DN: r.dn}
	if addrStart < r.addrEnd {
		u.Addresses = t.addrs[addrStart:r.addrEnd:r.addrEnd]
	}
	if valStart < r.valEnd {
		u.Values = t.values[valStart:r.valEnd:r.valEnd]
	}
	if k, ok := slices.BinarySearchFunc(t.smime, i, func(b userBlobs, i int) int { return cmp.Compare(b.user, i) }); ok {
		u.SMIME = t.smime[k].blobs
	}
	return u
}
