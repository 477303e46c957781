package sync

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// Hashes that share their first 8 bytes, as two values crafted to collide would.
func collidingHashes() (a, b, c [32]byte) {
	for _, h := range []*[32]byte{&a, &b, &c} {
		copy(h[:8], "prefix!!")
	}
	a[31], b[31], c[31] = 1, 2, 3
	return a, b, c
}

func TestCertMapTellsApartHashesSharingAPrefix(t *testing.T) {
	ha, hb, hc := collidingHashes()
	a, b, c := &Cert{Hash: ha}, &Cert{Hash: hb}, &Cert{Hash: hc}
	other := &Cert{Hash: [32]byte{9}}
	type step struct {
		op   string // put, remove
		cert *Cert
	}
	for _, tc := range []struct {
		name  string
		steps []step
		want  []*Cert // found by their hashes
		gone  [][32]byte
	}{
		{"one", []step{{"put", a}}, []*Cert{a}, [][32]byte{hb, other.Hash}},
		{"two sharing a prefix", []step{{"put", a}, {"put", b}, {"put", other}}, []*Cert{a, b, other}, [][32]byte{hc}},
		{"three sharing a prefix", []step{{"put", a}, {"put", b}, {"put", c}}, []*Cert{a, b, c}, nil},
		{"the first removed: the second still found", []step{{"put", a}, {"put", b}, {"remove", a}}, []*Cert{b}, [][32]byte{ha}},
		{"the second removed", []step{{"put", a}, {"put", b}, {"remove", b}}, []*Cert{a}, [][32]byte{hb}},
		{"the first removed, the second put again: held once",
			[]step{{"put", a}, {"put", b}, {"remove", a}, {"put", b}}, []*Cert{b}, [][32]byte{ha}},
		{"the first removed, a third put", []step{{"put", a}, {"put", b}, {"remove", a}, {"put", c}}, []*Cert{b, c}, [][32]byte{ha}},
		{"removing what is not there", []step{{"put", a}, {"remove", b}, {"remove", other}}, []*Cert{a}, [][32]byte{hb}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newCertMap(0)
			for _, s := range tc.steps {
				if s.op == "put" {
					m.put(s.cert)
				} else {
					m.remove(s.cert.Hash)
				}
			}
			for _, c := range tc.want {
				if got := m.get(c.Hash); got != c {
					t.Errorf("get(%x) = %v, want the Cert put", c.Hash[31], got)
				}
			}
			for _, h := range tc.gone {
				if got := m.get(h); got != nil {
					t.Errorf("get(%x) = %v, want nil", h[31], got)
				}
			}
			n := 0
			m.each(func(*Cert) { n++ })
			if m.len() != len(tc.want) || n != len(tc.want) {
				t.Errorf("len %d, each saw %d, want %d", m.len(), n, len(tc.want))
			}
		})
	}
}

// A newer Cert of the same hash replaces the older, wherever that one is.
func TestCertMapReplaces(t *testing.T) {
	ha, hb, _ := collidingHashes()
	a, b, b2 := &Cert{Hash: ha}, &Cert{Hash: hb}, certFields{Hash: hb, SerialHex: "02"}.cert()
	m := newCertMap(0)
	m.put(a)
	m.put(b)
	m.put(b2)
	if m.get(hb) != b2 || m.len() != 2 {
		t.Fatalf("get = %v, len %d; want the newer, 2", m.get(hb), m.len())
	}
}

// each lets its function remove the Cert it is given, as EndPass does.
func TestCertMapEachRemoving(t *testing.T) {
	ha, hb, hc := collidingHashes()
	m := newCertMap(0)
	for _, h := range [][32]byte{ha, hb, hc, {1}, {2}} {
		m.put(&Cert{Hash: h})
	}
	m.each(func(c *Cert) { m.remove(c.Hash) })
	if m.len() != 0 {
		t.Fatalf("%d left", m.len())
	}
}

// Against a plain map, through puts, removals and compactions, with more
// entries than put lets wait unmerged and hashes sharing prefixes.
func TestCertMapAgainstAMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	hash := func() [32]byte {
		var h [32]byte
		// Prefixes repeat, spread over the whole range as hashes are.
		binary.BigEndian.PutUint64(h[:], rng.Uint64N(3000)*0x9e3779b97f4a7c15)
		binary.BigEndian.PutUint64(h[24:], rng.Uint64())
		return h
	}
	m, want := newCertMap(0), map[[32]byte]*Cert{}
	var hashes [][32]byte
	check := func(step string) {
		t.Helper()
		if m.len() != len(want) {
			t.Fatalf("%s: len %d, want %d", step, m.len(), len(want))
		}
		for _, h := range hashes {
			if got := m.get(h); got != want[h] {
				t.Fatalf("%s: get(%x) = %p, want %p", step, h[:8], got, want[h])
			}
		}
		seen := 0
		m.each(func(c *Cert) {
			if want[c.Hash] != c {
				t.Fatalf("%s: each gave %x, which is not held", step, c.Hash[:8])
			}
			seen++
		})
		if seen != len(want) {
			t.Fatalf("%s: each saw %d, want %d", step, seen, len(want))
		}
	}
	for round := range 6 {
		for range 5000 {
			var h [32]byte
			if len(hashes) > 0 && rng.IntN(4) == 0 {
				h = hashes[rng.IntN(len(hashes))] // replaced, or put again after a removal
			} else {
				h = hash()
				hashes = append(hashes, h)
			}
			c := &Cert{Hash: h}
			m.put(c)
			want[h] = c
		}
		check(fmt.Sprintf("round %d, put", round))
		for _, h := range hashes {
			if rng.IntN(3) == 0 {
				m.remove(h)
				delete(want, h)
			}
		}
		check(fmt.Sprintf("round %d, removed", round))
		m.compact()
		check(fmt.Sprintf("round %d, compacted", round))
		if !slices.IsSorted(m.keys) || len(m.added) != 0 || m.live != len(m.sorted) {
			t.Fatalf("round %d: compacted into %d keys (sorted %v), %d added, %d live", round, len(m.keys), slices.IsSorted(m.keys), len(m.added), m.live)
		}
	}
}

// sortedCertMap keeps the later of two Certs of the same hash, as put does.
func TestSortedCertMapKeepsTheLater(t *testing.T) {
	ha, hb, _ := collidingHashes()
	a, b, b2 := &Cert{Hash: ha}, &Cert{Hash: hb}, certFields{Hash: hb, SerialHex: "02"}.cert()
	m := sortedCertMap([]*Cert{b, a, b2})
	if m.get(hb) != b2 || m.get(ha) != a || m.len() != 2 {
		t.Fatalf("get = %v, len %d; want the later, 2", m.get(hb), m.len())
	}
}
