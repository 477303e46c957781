package sync

import (
	"hash/maphash"

	"github.com/certgal/certgal/certsource"
	"github.com/certgal/certgal/internal/slots"
)

// storeStatus is the CA store's status of each certificate it holds, by
// issuer and serial: the store's certificates themselves with a slots index,
// rather than maps keyed by serial strings, as it is held while a pass reads
// the directory and plans.
type storeStatus struct {
	seed    maphash.Seed
	entries []statusEntry
	index   slots.Index
}

type statusEntry struct {
	cert   *Cert // its Issuer and SerialHex are the key
	status certsource.Status
}

// newStoreStatus is a storeStatus for up to n certificates.
func newStoreStatus(n int) storeStatus {
	return storeStatus{seed: maphash.MakeSeed(), entries: make([]statusEntry, 0, n), index: slots.New(n)}
}

func (s *storeStatus) find(c *Cert) (int, slots.Free) {
	return s.index.Find(maphash.String(s.seed, c.SerialHex()), func(i int) bool {
		e := s.entries[i].cert
		return e.SerialHex() == c.SerialHex() && e.Issuer() == c.Issuer()
	})
}

// set records st for c's issuer and serial; a later set of the same wins.
func (s *storeStatus) set(c *Cert, st certsource.Status) {
	pos, free := s.find(c)
	if pos >= 0 {
		s.entries[pos].status = st
		return
	}
	s.index.Put(free, len(s.entries), func(i int) uint64 { return maphash.String(s.seed, s.entries[i].cert.SerialHex()) })
	s.entries = append(s.entries, statusEntry{cert: c, status: st})
}

func (s *storeStatus) get(c *Cert) (certsource.Status, bool) {
	if s.index.Len() == 0 { // and the zero storeStatus has no seed
		return 0, false
	}
	pos, _ := s.find(c)
	if pos < 0 {
		return 0, false
	}
	return s.entries[pos].status, true
}
