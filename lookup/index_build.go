package lookup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"slices"

	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/internal/mailaddr"
	"github.com/certgal/certgal/internal/parallel"
)

// Options are how an index is built.
type Options struct {
	// Dir is where the file of the certificates' bytes is created (os.TempDir() when ""). It
	// is unlinked at once (removed when closed on Windows); when it cannot be created the
	// bytes are kept in memory, with a warning. An index rebuilt from another keeps its file.
	Dir string
	// Fetch returns the DER of certificate j of entry i when the entry gives Sums and the
	// index does not hold it: a certificate is fetched, written to the file and dropped, one
	// after the other. An error leaves the certificate out (Fetch logs it).
	Fetch func(i, j int) ([]byte, error)
	Log   logrus.FieldLogger
}

// NewIndex builds an index of entries given with their DER, its bytes in os.TempDir().
func NewIndex(entries []Entry) *Index { return Build(entries, Options{}) }

// Build builds the index of entries.
func Build(entries []Entry, opt Options) *Index { return (*Index)(nil).RebuildWith(entries, opt) }

// Rebuild is RebuildWith with no Fetch: the entries give their DER.
func (ix *Index) Rebuild(entries []Entry) *Index { return ix.RebuildWith(entries, Options{}) }

// RebuildWith builds the index of entries reusing the work of ix (which may be nil) for every
// certificate it already holds, found by SHA-256: a pass that changed a few certificates out
// of 100,000 parses, fetches and writes only those few; the others keep their bytes where
// they are in ix's store, which the next index shares (appending what is new). ix itself is
// not changed and may still be serving. When the store holds more dead bytes than live ones,
// the next index gets a compacted store; ix's store stays open until the index after the next
// is built, so a request must be answered from the newest index or the one before it.
func (ix *Index) RebuildWith(entries []Entry, opt Options) *Index {
	sums, fp := entrySums(entries)
	if ix != nil && ix.entries == fp && !ix.body.store.hasBad() {
		return ix
	}
	if opt.Log == nil {
		opt.Log = logrus.New()
		opt.Log.(*logrus.Logger).SetOutput(io.Discard)
	}
	b := &builder{entries: entries, opt: opt, prev: ix}
	if ix != nil {
		b.store = ix.body.store
		b.store.closeRetired()
		b.bad = b.store.takeBad()
	} else {
		b.store = newBodyStore(opt.Dir, opt.Log)
	}
	b.collect(ix, sums)
	b.prepareNew()
	b.assignAddresses()
	b.keepReached()
	b.compact()
	next := b.build()
	if !b.fetchFailed {
		next.entries = fp
	}
	return next
}

// entrySums returns the SHA-256 of each certificate of entries, and one over the entries:
// their addresses as the index folds them and their certificates' sums, in order.
func entrySums(entries []Entry) ([][][32]byte, [32]byte) {
	h := sha256.New()
	sums := make([][][32]byte, len(entries))
	var n [8]byte
	for i, e := range entries {
		sums[i] = e.Sums
		if e.DER != nil {
			sums[i] = make([][32]byte, len(e.DER))
			for j, der := range e.DER {
				sums[i][j] = sha256.Sum256(der)
			}
		}
		binary.BigEndian.PutUint32(n[:4], uint32(len(e.Addresses)))
		binary.BigEndian.PutUint32(n[4:], uint32(len(sums[i])))
		h.Write(n[:])
		for _, a := range e.Addresses {
			binary.BigEndian.PutUint32(n[:4], uint32(len(a)))
			h.Write(n[:4])
			h.Write([]byte(mailaddr.ASCIILower(a)))
		}
		for _, s := range sums[i] {
			h.Write(s[:])
		}
	}
	var fp [32]byte
	h.Sum(fp[:0])
	return sums, fp
}

// builder is what RebuildWith works out, phase by phase, before it writes the next index:
// collect, prepareNew, assignAddresses, keepReached, compact, build.
type builder struct {
	entries []Entry
	opt     Options
	prev    *Index // the index rebuilt from, or nil
	store   *bodyStore
	bad     map[[32]byte]bool // certificates of prev whose bytes were found wrong: not reused
	stats   Stats
	// fetchFailed is set when a certificate could not be fetched: the index is not the
	// entries', and the same entries must build again.
	fetchFailed bool

	// Every distinct certificate of the entries (collect), and the candidates each entry holds,
	// which once prepared are only those that parsed.
	cands   []candidate
	ofEntry [][]int

	// Each plausible address's entry, -1 when several entries have it (assignAddresses).
	owner map[string]int

	// The records of the candidates not taken over, at set once their bytes are in the store.
	fresh []cert

	// keepReached: the entries some address reaches, each candidate's certificate number in
	// the next index (-1 for one no address reaches), and the candidates kept by number.
	served []bool
	number []int
	kept   []int
	// moved is where compact put the bytes of each certificate kept; nil when it did not.
	moved []int64
}

// candidate is a certificate of the entries, taken over from the served index or prepared.
// It refers to its record, which a rebuild does not copy until it writes the next index.
type candidate struct {
	entry, j int32 // where it was first found, to fetch it
	rec      int32 // its record: in prev.certs when reused, else in fresh
	ok       bool
	reused   bool
}

// rec is candidate k's record.
func (b *builder) rec(k int) *cert {
	if c := &b.cands[k]; c.reused {
		return &b.prev.certs[c.rec]
	}
	return &b.fresh[b.cands[k].rec]
}

// collect finds every distinct certificate of the entries and takes over from ix (which may
// be nil) the records of those it holds.
func (b *builder) collect(ix *Index, sums [][][32]byte) {
	bySum := make(map[[32]byte]int, len(b.entries))
	b.ofEntry = make([][]int, len(b.entries))
	if b.prev == nil {
		// Every certificate is new, and its record becomes the index's (records): no slack.
		total := 0
		for _, ss := range sums {
			total += len(ss)
		}
		b.fresh = make([]cert, 0, total)
	}
	for i := range b.entries {
		for j, sum := range sums[i] {
			k, seen := bySum[sum]
			if !seen {
				k = len(b.cands)
				bySum[sum] = k
				b.cands = append(b.cands, b.candidate(sum, i, j))
			}
			if !slices.Contains(b.ofEntry[i], k) {
				b.ofEntry[i] = append(b.ofEntry[i], k)
			}
		}
	}
}

// candidate is certificate j of entry i, whose SHA-256 is sum, with the record of ix when it
// holds the certificate and its bytes were not found wrong; else still to be prepared.
func (b *builder) candidate(sum [32]byte, i, j int) candidate {
	if b.prev != nil {
		if n, ok := b.prev.find(sum); ok && !b.bad[sum] {
			return candidate{entry: int32(i), j: int32(j), rec: int32(n), ok: true, reused: true}
		}
	}
	b.fresh = append(b.fresh, cert{sum: sum})
	return candidate{entry: int32(i), j: int32(j), rec: int32(len(b.fresh) - 1)}
}

// prepareBatch is how many new certificates are fetched before they are parsed, on every
// core, and written: the DER held at once while building.
const prepareBatch = 256

// prepareNew fetches, parses and writes to the store the candidates not taken over, a batch
// at a time. Each entry keeps the candidates that parsed.
func (b *builder) prepareNew() {
	var batch []int
	ders := make([][]byte, 0, prepareBatch)
	for k := range b.cands {
		if b.cands[k].reused {
			b.stats.Reused++
			continue
		}
		batch = append(batch, k)
		if len(batch) == prepareBatch {
			b.prepareBatch(batch, ders)
			batch = batch[:0]
		}
	}
	b.prepareBatch(batch, ders)
	for i := range b.ofEntry {
		b.ofEntry[i] = slices.DeleteFunc(b.ofEntry[i], func(k int) bool { return !b.cands[k].ok })
	}
}

// prepareBatch fetches the candidates of batch one after the other, parses them in parallel,
// and appends their bytes to the store.
func (b *builder) prepareBatch(batch []int, ders [][]byte) {
	ders = ders[:0]
	for _, k := range batch {
		ders = append(ders, b.fetch(&b.cands[k], b.rec(k).sum))
	}
	regions := make([][]byte, len(batch))
	parallel.Each(context.Background(), len(batch), parallel.Options{}, func(i int) {
		if ders[i] != nil {
			cand := &b.cands[batch[i]]
			c := b.rec(batch[i])
			*c, regions[i], cand.ok = prepare(c.sum, ders[i])
		}
	})
	for i, k := range batch {
		cand := &b.cands[k]
		if ders[i] != nil && !cand.ok {
			b.stats.Unparseable++
		}
		if !cand.ok {
			continue
		}
		at, err := b.store.append(regions[i])
		if err != nil {
			b.opt.Log.WithField("error", err.Error()).Error("lookup: certificate left out")
			cand.ok = false
			b.fetchFailed = true
			continue
		}
		b.rec(k).at = at
	}
	clear(ders)
}

// fetch is the DER of cand, nil when it could not be had.
func (b *builder) fetch(cand *candidate, sum [32]byte) []byte {
	e := &b.entries[cand.entry]
	if e.DER != nil {
		return e.DER[cand.j]
	}
	if b.opt.Fetch == nil {
		b.fetchFailed = true
		return nil
	}
	der, err := b.opt.Fetch(int(cand.entry), int(cand.j))
	if err == nil && sha256.Sum256(der) != sum {
		err = errors.New("the CA store gave other bytes than the pass published")
		b.opt.Log.WithField("error", err.Error()).Warn("lookup: certificate left out")
	}
	if err != nil {
		b.fetchFailed = true
		return nil
	}
	return der
}

// assignAddresses gives each address its entry. An address of several entries is ambiguous
// and left out: never guess. Entries with no certificate that parsed give none.
func (b *builder) assignAddresses() {
	b.owner = make(map[string]int, len(b.entries))
	for i, e := range b.entries {
		if len(b.ofEntry[i]) == 0 {
			continue
		}
		for _, a := range e.Addresses {
			a = mailaddr.ASCIILower(a)
			if !plausibleAddress(a) {
				continue
			}
			if prev, dup := b.owner[a]; dup {
				if prev >= 0 {
					b.stats.Ambiguous++
					b.owner[a] = -1
				}
				continue
			}
			b.owner[a] = i
		}
	}
}

// keepReached numbers the certificates some address still reaches, in the order of their
// SHA-256: the RFC 4387 interface must not serve what /certs does not.
func (b *builder) keepReached() {
	b.served = make([]bool, len(b.entries))
	reached := make([]bool, len(b.cands))
	for _, i := range b.owner {
		if i >= 0 {
			b.served[i] = true
			for _, k := range b.ofEntry[i] {
				reached[k] = true
			}
		}
	}
	b.number = make([]int, len(b.cands))
	for k := range b.cands {
		b.number[k] = -1
		if reached[k] {
			b.kept = append(b.kept, k)
		}
	}
	slices.SortFunc(b.kept, func(x, y int) int { return bytes.Compare(b.rec(x).sum[:], b.rec(y).sum[:]) })
	for n, k := range b.kept {
		b.number[k] = n
	}
}
