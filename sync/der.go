package sync

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	stdsync "sync"

	"github.com/certgal/certgal/certsource"
)

// errNotInStore: a certificate's DER is neither in its Cert nor in the CA
// store's snapshot. Only a value the directory holds can be like that, and
// the directory has its DER.
var errNotInStore = errors.New("not in the CA store")

// derSource finds the DER of the certificates of one pass, which the pass
// does not hold (see Cert.DER): in the CA store's snapshot, or read again
// from the store by an UnparsedSource. Once the store is classified
// (classified), it holds of the snapshot only what finds each certificate
// again (certsource.Refs) beside its Cert, which the classifier holds
// anyway: the snapshot's Certificates would otherwise live through the
// directory's read and the planning (docs/BENCHMARKS.md, "The renewal pass's
// read and planning"). It is safe for concurrent use, once keepOnly (if
// called) has returned. It outlives its pass while the lookup is built from
// it: the snapshot's certificates are found by their indexes ordered by
// hash, a few bytes each, not a map (docs/BENCHMARKS.md, "The
// classification cache in a dense form").
type derSource struct {
	src certsource.Source
	// certs and refs are the snapshot's certificates, by position: each
	// one's classification and what finds it again. nil once keepOnly has
	// trimmed them to kept.
	certs []*Cert
	refs  certsource.Refs

	once   stdsync.Once
	byHash []uint32 // positions in certs, ordered by their hashes

	kept derTable
}

// derTable is what a derSource keeps of the snapshot's certificates once the
// plan is made: of those the writes and the lookup may ask for (every
// certificate published: nearly all of the store's), each one's Cert,
// ordered by hash, and what finds it again, 12 bytes a certificate where a
// copy of its certsource.Certificate took 80.
type derTable struct {
	certs []*Cert
	refs  certsource.Refs // by position in certs
}

func newDERSource(src certsource.Source) *derSource {
	return &derSource{src: src}
}

// classified gives d the snapshot's certificates, certs[i] being the
// classification of snap.Certificates[i]; d keeps nothing of snap itself.
func (d *derSource) classified(snap *certsource.Snapshot, certs []*Cert) {
	d.certs, d.refs = certs, certsource.RefsOf(snap.Certificates)
}

// der returns c's DER.
func (d *derSource) der(c *Cert) ([]byte, error) { return d.derInto(nil, c) }

// derInto is der, but a DER read again from the store is appended to *buf
// (when buf is not nil), a write's buffer that it uses again for the next.
func (d *derSource) derInto(buf *[]byte, c *Cert) ([]byte, error) {
	if der := c.DER(); der != nil {
		return der, nil
	}
	if d.certs == nil {
		return d.kept.der(d, buf, c)
	}
	i, ok := d.find(c.Hash)
	if !ok {
		return nil, fmt.Errorf("serial %s: %w", c.SerialHex(), errNotInStore)
	}
	return d.loadInto(buf, d.refs.Certificate(int(d.byHash[i]), c.Hash))
}

// find is the position in byHash of a certificate of the snapshot with hash h.
func (d *derSource) find(h [32]byte) (int, bool) {
	certs := d.certs
	// Built on the first need only: a pass with nothing to write needs none.
	d.once.Do(func() {
		d.byHash = make([]uint32, len(certs))
		for i := range d.byHash {
			d.byHash[i] = uint32(i)
		}
		slices.SortFunc(d.byHash, func(a, b uint32) int { return bytes.Compare(certs[a].Hash[:], certs[b].Hash[:]) })
	})
	return slices.BinarySearchFunc(d.byHash, h, func(i uint32, h [32]byte) int { return bytes.Compare(certs[i].Hash[:], h[:]) })
}

// load is the DER of a certificate of the snapshot.
func (d *derSource) load(sc *certsource.Certificate) ([]byte, error) { return d.loadInto(nil, sc) }

// loadInto is load, into buf as derInto's.
func (d *derSource) loadInto(buf *[]byte, sc *certsource.Certificate) ([]byte, error) {
	if der := sc.DER(); der != nil {
		return der, nil
	}
	u, ok := d.src.(certsource.UnparsedSource)
	if !ok {
		return nil, fmt.Errorf("%s: the CA store gave no DER", sc.Origin())
	}
	if buf == nil {
		return u.AppendDER(nil, sc)
	}
	n := len(*buf)
	out, err := u.AppendDER(*buf, sc)
	if err != nil {
		return nil, err
	}
	*buf = out
	return out[n:len(out):len(out)], nil
}

// keepOnly trims d, once the plan is made, to the certificates each calls
// keep with (what the writes may write and the lookup may serve): the rest
// of the snapshot's would otherwise live through the writes and the lookup's
// rebuild after the pass, the phases that hold the most (docs/BENCHMARKS.md,
// "The writes in the renewal pass"). A certificate asked for later that was
// not kept is not in the store, as for a value only the directory has.
func (d *derSource) keepOnly(each func(keep func(*Cert))) {
	if d.certs == nil {
		return
	}
	want := make([]bool, len(d.certs)) // by position in byHash
	n := 0
	each(func(c *Cert) {
		if c.DER() != nil {
			return
		}
		if i, ok := d.find(c.Hash); ok && !want[i] {
			want[i] = true
			n++
		}
	})
	t := derTable{certs: make([]*Cert, 0, n)}
	pos := make([]uint32, 0, n)
	for i, w := range want {
		if w {
			p := d.byHash[i]
			t.certs, pos = append(t.certs, d.certs[p]), append(pos, p)
		}
	}
	t.refs = d.refs.Keep(pos)
	d.certs, d.refs, d.byHash, d.kept = nil, certsource.Refs{}, nil, t
}

// der is c's DER, of a certificate t kept (see derInto for buf).
func (t *derTable) der(d *derSource, buf *[]byte, c *Cert) ([]byte, error) {
	i, ok := slices.BinarySearchFunc(t.certs, c.Hash, func(a *Cert, h [32]byte) int { return bytes.Compare(a.Hash[:], h[:]) })
	if !ok {
		return nil, fmt.Errorf("serial %s: %w", c.SerialHex(), errNotInStore)
	}
	return d.loadInto(buf, t.refs.Certificate(i, c.Hash))
}

// toWriteOrServe calls keep with each certificate a write of p's entries may
// need the DER of (a conflict plans an entry again from its DN's candidates,
// which calc keeps) and each p publishes, which the lookup may ask for.
func toWriteOrServe(p *Plan, calc *calculator) func(keep func(*Cert)) {
	return func(keep func(*Cert)) {
		for _, pub := range p.Published {
			for _, x := range pub.Certs {
				keep(x)
			}
		}
		for _, e := range p.Entries {
			for _, l := range [][]Change{e.Adds, e.Removes} {
				for _, c := range l {
					if c.cert != nil {
						keep(c.cert)
					}
				}
			}
		}
		for _, l := range calc.candidates {
			for _, x := range l {
				keep(x)
			}
		}
	}
}
