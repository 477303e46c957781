package lookup

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	stdsync "sync"
	"testing"
	"time"
)

// benchWorld is the entries the index benchmarks build from, made once: signing is slower
// than what is measured.
var benchWorld struct {
	once    stdsync.Once
	entries []Entry
}

// benchEntries returns 20,000 users: one certificate each, a renewed one for every tenth, an
// alias for every twentieth.
func benchEntries(b *testing.B) []Entry {
	b.Helper()
	benchWorld.once.Do(func() {
		ca := newTestCA(b, "Bench S/MIME CA")
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		for i := range 20000 {
			addr := fmt.Sprintf("user%06d@corp.example", i)
			e := Entry{Addresses: []string{addr}, DER: [][]byte{ca.issueKey(b, addr, now.Add(-time.Hour), key)}}
			if i%10 == 0 {
				e.DER = append(e.DER, ca.issueKey(b, addr, now.Add(-48*time.Hour), key))
			}
			if i%20 == 0 {
				e.Addresses = append(e.Addresses, fmt.Sprintf("u%06d@mail.corp.example", i))
			}
			benchWorld.entries = append(benchWorld.entries, e)
		}
	})
	return benchWorld.entries
}

// A first build parses every certificate, on every core.
func BenchmarkNewIndex(b *testing.B) {
	entries := benchEntries(b)
	b.ResetTimer()
	for range b.N {
		NewIndex(entries)
	}
}

// A pass that changed one user's certificates takes the others over from the served index.
func BenchmarkRebuildOneEntryFewer(b *testing.B) {
	entries := benchEntries(b)
	prev := NewIndex(entries)
	b.ResetTimer()
	for range b.N {
		prev.Rebuild(entries[:len(entries)-1])
	}
}

// What a new certificate costs a build: read with Options.Parsed (readFields), or parsed with
// crypto/x509 (the entries of NewIndex and Build without it).
func BenchmarkPrepare(b *testing.B) {
	entries := benchEntries(b)
	for _, tc := range []struct {
		name    string
		issuers func() *nameCache
	}{{"parsed", func() *nameCache { return &nameCache{} }}, {"x509", func() *nameCache { return nil }}} {
		b.Run(tc.name, func(b *testing.B) {
			issuers := tc.issuers()
			buf := make([]byte, 0, 2048)
			b.ReportAllocs()
			for i := range b.N {
				der := entries[i%len(entries)].DER[0]
				if _, _, ok := prepare(buf[:0], [32]byte{}, der, issuers); !ok {
					b.Fatal("not prepared")
				}
			}
		})
	}
}
