package ldapgal

import "strings"

// entryArena is where one read of every user (Users) keeps the strings of
// its entries: carved from a few large chunks rather than allocated one by
// one, as a pass reads 100,000 users and keeps each one's DN, CSN and
// addresses until it is planned (docs/BENCHMARKS.md, "The users a pass
// reads, issue 17"). DNs, addresses and CSNs are in chunks of their own, as
// they are let go at different times: sync packs the CSNs as it reads them;
// what a pass keeps of its users after planning is nearly all the addresses
// (what the lookup serves), while the few DNs it keeps (the entries it
// writes) are copied out by the plan, and the DNs' chunks go.
type entryArena struct {
	names, addrs, csns stringArena
	// An entry's lists, used again for the next one.
	addrList     []string
	certs, smime [][]byte
}

// stringArena hands out copies of byte strings, carved from chunks. A chunk
// is a strings.Builder grown once: writing within its capacity never moves
// the bytes written before, and the strings handed out are slices of what
// String returns, so no byte a string shares is ever written again.
type stringArena struct {
	b strings.Builder
}

// arenaChunk is the size of a chunk. A string of more than a quarter of it
// is allocated on its own, so that a chunk is never mostly left unused.
const arenaChunk = 32 << 10

// string is a copy of v.
func (a *stringArena) string(v []byte) string {
	if len(v) > arenaChunk/4 {
		return string(v)
	}
	if a.b.Cap()-a.b.Len() < len(v) {
		a.b = strings.Builder{}
		a.b.Grow(arenaChunk)
	}
	start := a.b.Len()
	a.b.Write(v)
	return a.b.String()[start:]
}

// name is a copy of a DN; a nil arena allocates it on its own.
func (a *entryArena) name(v []byte) string {
	if a == nil {
		return string(v)
	}
	return a.names.string(v)
}

// addr is a copy of an address; a nil arena allocates it on its own.
func (a *entryArena) addr(v []byte) string {
	if a == nil {
		return string(v)
	}
	return a.addrs.string(v)
}

// csn is a copy of a CSN; a nil arena allocates it on its own.
func (a *entryArena) csn(v []byte) string {
	if a == nil {
		return string(v)
	}
	return a.csns.string(v)
}
