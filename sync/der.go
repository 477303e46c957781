package sync

import (
	"errors"
	"fmt"
	stdsync "sync"

	"github.com/certgal/certgal/certsource"
)

// errNotInStore: a certificate's DER is neither in its Cert nor in the CA
// store's snapshot. Only a value the directory holds can be like that, and
// the directory has its DER.
var errNotInStore = errors.New("not in the CA store")

// derSource finds the DER of the certificates of one pass, which the pass
// does not hold (see Cert.DER): in the snapshot, or read again from the store
// by an UnparsedSource. It is safe for concurrent use.
type derSource struct {
	snap *certsource.Snapshot
	src  certsource.Source

	once   stdsync.Once
	byHash map[[32]byte]*certsource.Certificate
}

func newDERSource(snap *certsource.Snapshot, src certsource.Source) *derSource {
	return &derSource{snap: snap, src: src}
}

// der returns c's DER.
func (d *derSource) der(c *Cert) ([]byte, error) {
	if c.DER != nil {
		return c.DER, nil
	}
	// Built on the first need only: a pass with nothing to write needs none.
	d.once.Do(func() {
		d.byHash = make(map[[32]byte]*certsource.Certificate, len(d.snap.Certificates))
		for _, sc := range d.snap.Certificates {
			d.byHash[sc.Hash] = sc
		}
	})
	sc, ok := d.byHash[c.Hash]
	if !ok {
		return nil, fmt.Errorf("serial %s: %w", c.SerialHex, errNotInStore)
	}
	return d.load(sc)
}

// load is the DER of a certificate of the snapshot.
func (d *derSource) load(sc *certsource.Certificate) ([]byte, error) {
	if sc.DER != nil {
		return sc.DER, nil
	}
	u, ok := d.src.(certsource.UnparsedSource)
	if !ok {
		return nil, fmt.Errorf("%s: the CA store gave no DER", sc.Origin)
	}
	return u.LoadDER(sc)
}
