package sync

import "encoding/binary"

// certMap finds a Cert by the SHA-256 of its DER. A map keyed by the whole
// hash takes 40 bytes a slot, and a map of 136,000 entries sits in 262,144
// slots: 14.7 MB, the largest single piece of a pass at 100,000 users. This
// one is keyed by the hash's first 8 bytes, which the Cert found is checked
// against in full. Two hashes can share a prefix (anybody who can put two
// values in the directory can make them do so with 2^32 tries): the second
// goes to exact, keyed by the whole hash, which is empty otherwise.
type certMap struct {
	byPrefix map[uint64]*Cert
	exact    map[[32]byte]*Cert
}

func newCertMap(n int) certMap {
	return certMap{byPrefix: make(map[uint64]*Cert, n)}
}

func prefix(h [32]byte) uint64 { return binary.LittleEndian.Uint64(h[:8]) }

func (m *certMap) get(h [32]byte) *Cert {
	if c := m.byPrefix[prefix(h)]; c != nil && c.Hash == h {
		return c
	}
	return m.exact[h] // nil when exact is
}

// put adds c, or replaces the Cert of the same hash.
func (m *certMap) put(c *Cert) {
	p := prefix(c.Hash)
	if old := m.byPrefix[p]; old == nil || old.Hash == c.Hash {
		m.byPrefix[p] = c
		delete(m.exact, c.Hash) // where it went while the slot was taken
		return
	}
	if m.exact == nil {
		m.exact = map[[32]byte]*Cert{}
	}
	m.exact[c.Hash] = c
}

// remove forgets h. A Cert in exact stays findable when its prefix's slot is
// emptied: get looks there on every miss.
func (m *certMap) remove(h [32]byte) {
	p := prefix(h)
	if c := m.byPrefix[p]; c != nil && c.Hash == h {
		delete(m.byPrefix, p)
		return
	}
	delete(m.exact, h)
}

func (m *certMap) len() int { return len(m.byPrefix) + len(m.exact) }

// each calls f with every Cert; f may remove the Cert it is given.
func (m *certMap) each(f func(*Cert)) {
	for _, c := range m.byPrefix {
		f(c)
	}
	for _, c := range m.exact {
		f(c)
	}
}
