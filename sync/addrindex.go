package sync

import (
	"hash/maphash"

	"github.com/certgal/certgal/internal/slots"
)

// addrIndex is who claims each normalized address: the user's position,
// or manyUsers. It is the addresses once each with a slots index of them, where
// a map[string]int of a pass's 100,000 addresses took about twice as much
// (docs/BENCHMARKS.md, "The users a pass reads, issue 17"). The keys are
// most often the users' own strings (mailaddr.Normalize returns an address
// already normalized as it is). Read by several goroutines at once only
// while nobody claims.
type addrIndex struct {
	seed  maphash.Seed
	index slots.Index
	keys  []string
	users []int32
}

// newAddrIndex is an index for about n addresses.
func newAddrIndex(n int) *addrIndex {
	return &addrIndex{seed: maphash.MakeSeed(), index: slots.New(n), keys: make([]string, 0, n), users: make([]int32, 0, n)}
}

func (x *addrIndex) find(a string) (int, slots.Free) {
	return x.index.Find(maphash.String(x.seed, a), func(k int) bool { return x.keys[k] == a })
}

// user is who claims a: a position, or manyUsers; false when nobody does.
func (x *addrIndex) user(a string) (int, bool) {
	k, _ := x.find(a)
	if k < 0 {
		return 0, false
	}
	return int(x.users[k]), true
}

// claim records that the user at position i claims a: a is then i's, or
// manyUsers' when another user claimed it before.
func (x *addrIndex) claim(a string, i int) {
	k, free := x.find(a)
	switch {
	case k < 0:
		x.keys = append(x.keys, a)
		x.users = append(x.users, int32(i))
		x.index.Put(free, len(x.keys)-1, func(k int) uint64 { return maphash.String(x.seed, x.keys[k]) })
	case int(x.users[k]) != i:
		x.users[k] = manyUsers
	}
}

// claimedByMany reports whether several users claim a.
func (x *addrIndex) claimedByMany(a string) bool {
	user, ok := x.user(a)
	return ok && user == manyUsers
}
