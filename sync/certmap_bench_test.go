package sync

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"
)

// BenchmarkCertMapGet: a lookup in a classifier's cache of 136,000
// certificates, as every value a pass reads makes one; "map" is a map keyed by
// the hashes' first 8 bytes, as the cache was, for comparison.
func BenchmarkCertMapGet(b *testing.B) {
	const n = 136_000
	certs := make([]*Cert, n)
	for i := range certs {
		certs[i] = &Cert{Hash: sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))}
	}
	b.Run("certMap", func(b *testing.B) {
		m := sortedCertMap(append([]*Cert(nil), certs...))
		i := 0
		for b.Loop() {
			if m.get(certs[i%n].Hash) == nil {
				b.Fatal("not found")
			}
			i += 7919
		}
	})
	b.Run("map", func(b *testing.B) {
		m := make(map[uint64]*Cert, n)
		for _, c := range certs {
			m[prefix(c.Hash)] = c
		}
		i := 0
		for b.Loop() {
			if c := m[prefix(certs[i%n].Hash)]; c == nil || c.Hash != certs[i%n].Hash {
				b.Fatal("not found")
			}
			i += 7919
		}
	})
}
