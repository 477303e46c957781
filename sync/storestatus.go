package sync

import (
	"hash/maphash"

	"github.com/certgal/certgal/certsource"
)

// storeStatus is the CA store's status of each certificate it holds, by
// issuer and serial: the store's certificates themselves with an index of
// slots, rather than maps keyed by serial strings, as it is held while a
// pass reads the directory and plans.
type storeStatus struct {
	seed    maphash.Seed
	entries []statusEntry
	index   slots
}

type statusEntry struct {
	cert   *Cert // its Issuer and SerialHex are the key
	status certsource.Status
}

// newStoreStatus is a storeStatus for up to n certificates.
func newStoreStatus(n int) storeStatus {
	return storeStatus{seed: maphash.MakeSeed(), entries: make([]statusEntry, 0, n), index: newSlots(n)}
}

func (s *storeStatus) find(c *Cert) (pos, slot int) {
	h := maphash.String(s.seed, c.SerialHex)
	return s.index.find(h, func(i int) bool {
		e := s.entries[i].cert
		return e.SerialHex == c.SerialHex && e.Issuer == c.Issuer
	})
}

// set records st for c's issuer and serial; a later set of the same wins.
func (s *storeStatus) set(c *Cert, st certsource.Status) {
	pos, slot := s.find(c)
	if pos >= 0 {
		s.entries[pos].status = st
		return
	}
	if 2*(len(s.entries)+1) > len(s.index) {
		s.grow()
		_, slot = s.find(c)
	}
	s.index.put(slot, len(s.entries))
	s.entries = append(s.entries, statusEntry{cert: c, status: st})
}

// grow doubles the index, for more certificates than newStoreStatus was told.
func (s *storeStatus) grow() {
	s.index = newSlots(len(s.index))
	for i, e := range s.entries {
		_, slot := s.find(e.cert)
		s.index.put(slot, i)
	}
}

func (s *storeStatus) get(c *Cert) (certsource.Status, bool) {
	if len(s.index) == 0 {
		return 0, false
	}
	pos, _ := s.find(c)
	if pos < 0 {
		return 0, false
	}
	return s.entries[pos].status, true
}
