package lookup

import (
	"cmp"
	"crypto/sha256"
	"slices"

	"github.com/sirupsen/logrus"
)

// compact moves the certificates kept to a new store when the store holds more bytes no index
// will read than bytes the next one reads. The old store is retired, not closed: the index
// being served reads it until the next one is swapped in.
func (b *builder) compact() {
	var live int64
	for _, k := range b.kept {
		live += int64(b.rec(k).size())
	}
	if b.store.size-live <= live {
		return
	}
	old := b.store.view()
	next := newBodyStore(b.store.dir, b.opt.Log)
	var buf []byte
	moved := make([]int64, len(b.kept))
	for n, k := range b.kept {
		c := b.rec(k)
		var err error
		buf, err = old.loadAll(buf[:0], c)
		var at int64
		if err == nil {
			at, err = next.append(buf)
		}
		if err != nil {
			// The old store still serves; compacting waits for the next pass.
			b.opt.Log.WithField("error", err.Error()).Warn("lookup: the certificates' file was not compacted")
			next.close()
			return
		}
		moved[n] = at
	}
	b.opt.Log.WithFields(logrus.Fields{"live": live, "dead": b.store.size - live}).Debug("lookup: certificates' file compacted")
	next.retired = b.store
	b.store = next
	b.moved = moved
}

// build writes the next index: the certificates kept, each with its set of itself, the sets
// of several, the search keys and the addresses.
func (b *builder) build() *Index {
	next := &Index{
		body:    b.store.view(),
		certs:   b.records(),
		members: make([]uint32, 0, len(b.kept)),
		stats:   b.stats,
	}
	for n := range next.certs {
		if b.moved != nil {
			next.certs[n].at = b.moved[n]
		}
		next.addSelf(uint32(n))
	}
	setOf := b.addSets(next)
	next.byAddr = b.addresses(setOf)
	next.stats.Addresses = b.stats.Addresses
	// What only the phases needed goes before the search keys are sorted.
	b.owner, b.cands, b.entryStart, b.entryCands, b.served, b.number = addrTable{}, nil, nil, nil, nil, nil
	next.addSearchKeys()
	next.lengths = next.lengthsServed()
	next.stats.Certificates = len(next.certs)
	return next
}

// addSets adds the sets of the entries with several certificates and returns each served
// entry's set.
func (b *builder) addSets(next *Index) []uint32 {
	setOf := make([]uint32, b.n)
	for i := range setOf {
		switch {
		case !b.served[i]:
		case len(b.ofEntry(i)) == 1:
			setOf[i] = uint32(b.number[b.ofEntry(i)[0]])
		default:
			certs := make([]uint32, len(b.ofEntry(i)))
			for j, k := range b.ofEntry(i) {
				certs[j] = uint32(b.number[k])
			}
			setOf[i] = next.addSet(certs)
		}
	}
	return setOf
}

// addresses turns the table of each address's entry into the next index's, of each
// address's set, and counts the addresses served.
func (b *builder) addresses(setOf []uint32) addrTable {
	t := b.owner
	for a, i := range t.vals {
		if i != noSet {
			t.vals[a] = setOf[i]
			b.stats.Addresses++
		}
	}
	return t
}

// records is the records of the certificates kept, by number. A first build has no previous
// index: every record is in fresh, in the order of the candidates, and those kept are moved
// down in place rather than copied, so that the records are not held twice.
func (b *builder) records() []cert {
	if b.prev != nil {
		certs := make([]cert, len(b.kept))
		for n, k := range b.kept {
			certs[n] = *b.rec(k)
		}
		return certs
	}
	for n, k := range b.kept { // k >= n: the kept are in order
		b.fresh[n] = b.fresh[b.cands[k].rec]
	}
	certs := slices.Clip(b.fresh[:len(b.kept)])
	b.fresh = nil
	return certs
}

// addSelf adds the set of certificate n, whose record is in place.
func (ix *Index) addSelf(n uint32) {
	ix.members = append(ix.members, n)
	ix.live += int64(ix.certs[n].size())
}

// addSet appends the set of several certificates for one address and returns its number.
func (ix *Index) addSet(certs []uint32) uint32 {
	ix.sortNewestFirst(certs)
	h := sha256.New()
	for _, n := range certs {
		h.Write(ix.certs[n].sum[:])
	}
	var sum [32]byte
	h.Sum(sum[:0])
	ix.sets = append(ix.sets, span{uint32(len(ix.members)), uint32(len(certs))})
	ix.members = append(ix.members, certs...)
	ix.setSums = append(ix.setSums, sum)
	return uint32(len(ix.certs) + len(ix.sets) - 1)
}

// lengthsServed is the table of every Content-Length the index's sets are served with.
func (ix *Index) lengthsServed() lengthTable {
	var ns []int
	seen := map[int]bool{}
	for sn := range len(ix.certs) + len(ix.sets) {
		for f := range numFormats {
			if n := ix.bodyLen(uint32(sn), f); !seen[n] {
				seen[n] = true
				ns = append(ns, n)
			}
		}
	}
	return newLengthTable(ns)
}

// addSearchKeys indexes every certificate by its RFC 4387 keys: per key, the certificates
// that have one, by the start of the key, newest first among those of one start (a subject
// renewed, every certificate of one issuer; and the rare keys that start alike, which
// lookupKey tells apart).
func (ix *Index) addSearchKeys() {
	for k := range numKeys {
		by := make([]uint32, 0, len(ix.certs))
		for n := range ix.certs {
			if k != keySKID || ix.certs[n].hasSKID {
				by = append(by, uint32(n))
			}
		}
		slices.SortFunc(by, func(a, b uint32) int {
			if c := cmp.Compare(ix.certs[a].keys[k], ix.certs[b].keys[k]); c != 0 {
				return c
			}
			return ix.newerFirst(a, b)
		})
		ix.search[k] = by
	}
}
