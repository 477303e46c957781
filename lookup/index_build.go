package lookup

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
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
	// Parsed says every certificate of the entries is known to parse with crypto/x509 (the
	// daemon's: a pass publishes only certificates it parsed to classify them). The index
	// then reads what it needs of a new certificate without parsing it whole, which a
	// rebuild running beside the pass's data cannot afford at 100,000 users; a certificate
	// it cannot read so is parsed whole. Without it, a value that is no certificate is left
	// out as unparseable (Stats.Unparseable); with it, one crypto/x509 would refuse for what
	// the index does not read (its public key, an extension other than the subject key
	// identifier) may be served.
	Parsed bool
	Log    logrus.FieldLogger
}

// NewIndex builds an index of entries given with their DER, its bytes in os.TempDir().
func NewIndex(entries []Entry) *Index { return Build(entries, Options{}) }

// Build builds the index of entries.
func Build(entries []Entry, opt Options) *Index { return (*Index)(nil).RebuildWith(entries, opt) }

// Rebuild is RebuildWith with no Fetch: the entries give their DER.
func (ix *Index) Rebuild(entries []Entry) *Index { return ix.RebuildWith(entries, Options{}) }

// RebuildWith builds the index of entries reusing the work of ix (which may be nil) for every
// certificate it already holds: RebuildFrom, with the entries as a slice.
func (ix *Index) RebuildWith(entries []Entry, opt Options) *Index {
	return ix.RebuildFrom(newEntrySlice(entries, opt.Fetch), opt)
}

// RebuildFrom builds the index of src reusing the work of ix (which may be nil) for every
// certificate it already holds, found by SHA-256: a pass that changed a few certificates out
// of 100,000 parses, fetches and writes only those few; the others keep their bytes where
// they are in ix's store, which the next index shares (appending what is new). ix itself is
// not changed and may still be serving. When the store holds more dead bytes than live ones,
// the next index gets a compacted store; ix's store stays open until the index after the next
// is built, so a request must be answered from the newest index or the one before it.
// opt.Fetch is not used: src gives the DER.
func (ix *Index) RebuildFrom(src Entries, opt Options) *Index {
	fp := fingerprint(src)
	if ix != nil && ix.entries == fp && !ix.body.store.hasBad() {
		return ix
	}
	if opt.Log == nil {
		opt.Log = logrus.New()
		opt.Log.(*logrus.Logger).SetOutput(io.Discard)
	}
	b := &builder{src: src, opt: opt, prev: ix}
	if opt.Parsed {
		b.issuers = &nameCache{}
	}
	if ix != nil {
		b.store = ix.body.store
		b.store.closeRetired()
		b.bad = b.store.takeBad()
	} else {
		b.store = newBodyStore(opt.Dir, opt.Log)
	}
	b.collect()
	b.prepareNew()
	b.assignAddresses()
	// The entries are read: what they are part of (in the daemon, the whole pass's result)
	// need not outlive them.
	b.n, b.src = src.Len(), nil
	b.keepReached()
	b.compact()
	next := b.build()
	if !b.fetchFailed {
		next.entries = fp
	}
	return next
}

// builder is what RebuildWith works out, phase by phase, before it writes the next index:
// collect, prepareNew, assignAddresses, keepReached, compact, build. Its tables are flat and
// numbered by int32, with no map but the addresses': a rebuild runs beside the index being
// served and, in the daemon, beside the pass's results, so what it holds at once counts in
// the process's peak (docs/BENCHMARKS.md, "Lookup memory in the daemon, issue 17").
type builder struct {
	src   Entries // nil once read (assignAddresses)
	n     int     // how many entries src has
	opt   Options
	prev  *Index // the index rebuilt from, or nil
	store *bodyStore
	bad   map[[32]byte]bool // certificates of prev whose bytes were found wrong: not reused
	// issuers are the issuers' names prepare read, when opt.Parsed; nil otherwise.
	issuers *nameCache
	stats   Stats
	// fetchFailed is set when a certificate could not be fetched: the index is not the
	// entries', and the same entries must build again.
	fetchFailed bool

	// Every distinct certificate of the entries in the order of their SHA-256 (collect), and
	// the candidates each entry holds: entry i's are entryCands[entryStart[i]:entryStart[i+1]],
	// which once prepared are only those that parsed.
	cands      []candidate
	entryStart []int32
	entryCands []int32

	// Each plausible address's entry, noSet when several entries have it (assignAddresses);
	// once the sets are made, its set: the next index's table.
	owner addrTable

	// The records of the candidates not taken over, at set once their bytes are in the store.
	fresh []cert

	// keepReached: the entries some address reaches, each candidate's certificate number in
	// the next index (-1 for one no address reaches), and the candidates kept by number.
	served []bool
	number []int32
	kept   []int32
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

// place is certificate j of entry i.
type place struct{ entry, j int32 }

// rec is candidate k's record.
func (b *builder) rec(k int32) *cert {
	if c := &b.cands[k]; c.reused {
		return &b.prev.certs[c.rec]
	}
	return &b.fresh[b.cands[k].rec]
}

// ofEntry is the candidates of entry i.
func (b *builder) ofEntry(i int) []int32 { return b.entryCands[b.entryStart[i]:b.entryStart[i+1]] }

// collect finds every distinct certificate of the entries, in the order of their SHA-256,
// and takes over from prev (which may be nil) the records of those it holds. The places of
// the certificates are sorted by SHA-256: the distinct certificates are the runs, and prev's
// records, in the same order, are matched by one walk beside them, with no map.
func (b *builder) collect() {
	n := b.src.Len()
	b.entryStart = make([]int32, n+1)
	total := 0
	for i := range n {
		total += b.src.NumCerts(i)
		b.entryStart[i+1] = int32(total)
	}
	places := make([]place, 0, total)
	for i := range n {
		for j := range b.src.NumCerts(i) {
			places = append(places, place{int32(i), int32(j)})
		}
	}
	sumAt := func(p place) [32]byte { return b.src.Sum(int(p.entry), int(p.j)) }
	slices.SortFunc(places, func(x, y place) int {
		sx, sy := sumAt(x), sumAt(y)
		if c := bytes.Compare(sx[:], sy[:]); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(x.entry, y.entry), cmp.Compare(x.j, y.j))
	})
	b.cands = make([]candidate, 0, total)
	if b.prev == nil {
		b.fresh = make([]cert, 0, total) // every record is new and becomes the index's
	}
	// entryCands is first by place, entry by entry; each entry's duplicates go below.
	b.entryCands = make([]int32, total)
	next := 0 // prev's first record not below the sums seen so far
	for x, p := range places {
		if sum := sumAt(p); x == 0 || sumAt(places[x-1]) != sum {
			b.cands = append(b.cands, b.candidate(sum, p, &next))
		}
		b.entryCands[b.entryStart[p.entry]+p.j] = int32(len(b.cands) - 1)
	}
	b.keepCands(func(int32) bool { return true })
}

// candidate is the certificate at p, whose SHA-256 is sum, with the record of prev when it
// holds the certificate and its bytes were not found wrong; else still to be prepared.
// prev's records from *next on are those not below sum.
func (b *builder) candidate(sum [32]byte, p place, next *int) candidate {
	if b.prev != nil {
		certs := b.prev.certs
		for *next < len(certs) && bytes.Compare(certs[*next].sum[:], sum[:]) < 0 {
			*next++
		}
		if *next < len(certs) && certs[*next].sum == sum && !b.bad[sum] {
			return candidate{entry: p.entry, j: p.j, rec: int32(*next), ok: true, reused: true}
		}
	}
	b.fresh = append(b.fresh, cert{sum: sum})
	return candidate{entry: p.entry, j: p.j, rec: int32(len(b.fresh) - 1)}
}

// keepCands keeps, of each entry's candidates, the first of each that keep accepts, in order.
func (b *builder) keepCands(keep func(k int32) bool) {
	w := int32(0)
	n := b.src.Len()
	for i := range n {
		start, end := b.entryStart[i], b.entryStart[i+1]
		b.entryStart[i] = w
		for _, k := range b.entryCands[start:end] { // w never passes what is read
			if keep(k) && !slices.Contains(b.entryCands[b.entryStart[i]:w], k) {
				b.entryCands[w] = k
				w++
			}
		}
	}
	b.entryStart[n] = w
	b.entryCands = b.entryCands[:w]
}

// prepareBatch is how many new certificates are fetched before they are parsed, on every
// core, and written: the DER held at once while building.
const prepareBatch = 256

// prepareNew fetches, parses and writes to the store the candidates not taken over, a batch
// at a time. Each entry keeps the candidates that parsed.
func (b *builder) prepareNew() {
	var batch []int32
	ders := make([][]byte, 0, prepareBatch)
	// Each certificate's bytes are made in a buffer of its place in the batch, reused by
	// the next batch: the store copies them.
	regions := make([][]byte, prepareBatch)
	for k := range int32(len(b.cands)) {
		if b.cands[k].reused {
			b.stats.Reused++
			continue
		}
		batch = append(batch, k)
		if len(batch) == prepareBatch {
			b.prepareBatch(batch, ders, regions)
			batch = batch[:0]
		}
	}
	b.prepareBatch(batch, ders, regions)
	b.keepCands(func(k int32) bool { return b.cands[k].ok })
}

// prepareBatch fetches the candidates of batch one after the other, parses them in parallel,
// and appends their bytes to the store. regions are buffers, one for each of batch.
func (b *builder) prepareBatch(batch []int32, ders, regions [][]byte) {
	ders = ders[:0]
	for _, k := range batch {
		ders = append(ders, b.fetch(&b.cands[k], b.rec(k).sum))
	}
	parallel.Each(context.Background(), len(batch), parallel.Options{}, func(i int) {
		if ders[i] != nil {
			cand := &b.cands[batch[i]]
			c := b.rec(batch[i])
			*c, regions[i], cand.ok = prepare(regions[i][:0], c.sum, ders[i], b.issuers)
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
	der, err := b.src.DER(int(cand.entry), int(cand.j))
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
	n, size := 0, 0
	for i := range b.src.Len() {
		if len(b.ofEntry(i)) > 0 {
			for _, a := range b.src.Addresses(i) {
				n++
				size += len(a)
			}
		}
	}
	b.owner = newAddrTable(n, size)
	for i := range b.src.Len() {
		if len(b.ofEntry(i)) == 0 {
			continue
		}
		for _, a := range b.src.Addresses(i) {
			a = mailaddr.ASCIILower(a)
			if !plausibleAddress(a) {
				continue
			}
			if k, dup := b.owner.insert(a, uint32(i)); dup && b.owner.vals[k] != noSet {
				b.stats.Ambiguous++
				b.owner.vals[k] = noSet
			}
		}
	}
}

// keepReached numbers the certificates some address still reaches, in the order of their
// SHA-256 (the candidates' order): the RFC 4387 interface must not serve what /certs does not.
func (b *builder) keepReached() {
	const unreached, reached = -1, 0
	b.served = make([]bool, b.n)
	b.number = make([]int32, len(b.cands))
	for k := range b.number {
		b.number[k] = unreached
	}
	for _, i := range b.owner.vals {
		if i != noSet {
			b.served[i] = true
			for _, k := range b.ofEntry(int(i)) {
				b.number[k] = reached
			}
		}
	}
	n := 0
	for k := range b.number {
		if b.number[k] == reached {
			n++
		}
	}
	b.kept = make([]int32, 0, n)
	for k := range b.number {
		if b.number[k] == reached {
			b.number[k] = int32(len(b.kept))
			b.kept = append(b.kept, int32(k))
		}
	}
}
