package ldapgal

import "github.com/certgal/certgal/internal/strchunks"

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
	names, addrs, csns strchunks.Chunks
	// An entry's lists, used again for the next one.
	addrList     []string
	certs, smime [][]byte
}

// name is a copy of a DN; a nil arena allocates it on its own.
func (a *entryArena) name(v []byte) string {
	if a == nil {
		return string(v)
	}
	return a.names.Bytes(v)
}

// addr is a copy of an address; a nil arena allocates it on its own.
func (a *entryArena) addr(v []byte) string {
	if a == nil {
		return string(v)
	}
	return a.addrs.Bytes(v)
}

// csn is a copy of a CSN; a nil arena allocates it on its own.
func (a *entryArena) csn(v []byte) string {
	if a == nil {
		return string(v)
	}
	return a.csns.Bytes(v)
}
