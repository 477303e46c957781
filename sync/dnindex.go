package sync

import (
	"hash/maphash"

	"github.com/certgal/certgal/internal/slots"
)

// dnIndex finds the first of a list of users (or of entries) that holds a
// DN: a slots index into the list, which holds the DN strings already, where
// a map of 100,000 DNs would keep each one again in a larger slot.
type dnIndex struct {
	seed  maphash.Seed
	index slots.Index
	dnAt  func(pos int) string // the DN at a position of the list
}

// newDNIndex is a dnIndex for about n DNs of the list dnAt reads.
func newDNIndex(n int, dnAt func(pos int) string) *dnIndex {
	return &dnIndex{seed: maphash.MakeSeed(), index: slots.New(n), dnAt: dnAt}
}

func (x *dnIndex) find(dn string) (int, slots.Free) {
	return x.index.Find(maphash.String(x.seed, dn), func(i int) bool { return x.dnAt(i) == dn })
}

// first returns the position of the first DN added that is dn, or false.
func (x *dnIndex) first(dn string) (int, bool) {
	pos, _ := x.find(dn)
	return pos, pos >= 0
}

// add records that position pos of the list holds dn, and returns the first
// position that does: pos, unless an earlier one holds dn too. dnAt need not
// read pos yet (a user is indexed before it joins the list).
func (x *dnIndex) add(dn string, pos int) int {
	first, free := x.find(dn)
	if first >= 0 {
		return first
	}
	x.index.Put(free, pos, func(i int) uint64 { return maphash.String(x.seed, x.dnAt(i)) })
	return pos
}
