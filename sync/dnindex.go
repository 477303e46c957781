package sync

import "hash/maphash"

// dnIndex finds the first of a list of users (or of entries) that holds a
// DN: a slots index into the list, which holds the DN strings already, where
// a map of 100,000 DNs would keep each one again in a larger slot.
type dnIndex struct {
	seed  maphash.Seed
	slots slots
	n     int
	dnAt  func(pos int) string // the DN at a position of the list
}

// newDNIndex is a dnIndex for about n DNs of the list dnAt reads.
func newDNIndex(n int, dnAt func(pos int) string) *dnIndex {
	return &dnIndex{seed: maphash.MakeSeed(), slots: newSlots(n), dnAt: dnAt}
}

func (x *dnIndex) find(dn string) (pos, slot int) {
	return x.slots.find(maphash.String(x.seed, dn), func(i int) bool { return x.dnAt(i) == dn })
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
	first, slot := x.find(dn)
	if first >= 0 {
		return first
	}
	if 2*(x.n+1) > len(x.slots) {
		x.grow()
		_, slot = x.find(dn)
	}
	x.slots.put(slot, pos)
	x.n++
	return pos
}

// grow doubles the index, for more DNs than newDNIndex was told.
func (x *dnIndex) grow() {
	old := x.slots
	x.slots = newSlots(len(old))
	for _, v := range old {
		if v != 0 {
			pos := int(v - 1)
			_, slot := x.find(x.dnAt(pos))
			x.slots.put(slot, pos)
		}
	}
}
