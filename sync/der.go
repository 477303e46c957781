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
// does not hold (see Cert.DER): in the snapshot, or read again from the store
// by an UnparsedSource. It is safe for concurrent use. It outlives its pass
// while the lookup is built from it: the snapshot's certificates are found by
// their indexes ordered by hash, a few bytes each, not a map
// (docs/BENCHMARKS.md, "The classification cache in a dense form").
type derSource struct {
	snap *certsource.Snapshot
	src  certsource.Source

	once   stdsync.Once
	byHash []uint32 // indexes of snap.Certificates, ordered by their hashes
}

func newDERSource(snap *certsource.Snapshot, src certsource.Source) *derSource {
	return &derSource{snap: snap, src: src}
}

// der returns c's DER.
func (d *derSource) der(c *Cert) ([]byte, error) {
	if c.DER != nil {
		return c.DER, nil
	}
	certs := d.snap.Certificates
	// Built on the first need only: a pass with nothing to write needs none.
	d.once.Do(func() {
		d.byHash = make([]uint32, len(certs))
		for i := range d.byHash {
			d.byHash[i] = uint32(i)
		}
		slices.SortFunc(d.byHash, func(a, b uint32) int { return bytes.Compare(certs[a].Hash[:], certs[b].Hash[:]) })
	})
	i, ok := slices.BinarySearchFunc(d.byHash, c.Hash, func(i uint32, h [32]byte) int { return bytes.Compare(certs[i].Hash[:], h[:]) })
	if !ok {
		return nil, fmt.Errorf("serial %s: %w", c.SerialHex, errNotInStore)
	}
	return d.load(certs[d.byHash[i]])
}

// load is the DER of a certificate of the snapshot.
func (d *derSource) load(sc *certsource.Certificate) ([]byte, error) {
	if der := sc.DER(); der != nil {
		return der, nil
	}
	u, ok := d.src.(certsource.UnparsedSource)
	if !ok {
		return nil, fmt.Errorf("%s: the CA store gave no DER", sc.Origin())
	}
	return u.LoadDER(sc)
}
