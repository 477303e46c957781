package sync

import (
	"github.com/certgal/certgal/certsource"
	"github.com/certgal/certgal/internal/strchunks"
)

// certArena is where the Classifier keeps the Certs it makes: in slabs of
// many, their texts cut from shared chunks, their issuers shared by every
// certificate of one issuer. A Cert made on its own took 160 bytes and three
// or four allocations more for its strings, at 136,000 of them in a daemon
// (docs/BENCHMARKS.md, "The classification cache in a compact form"). A slab
// or chunk lives as long as one of its Certs does; a renewal drops a tenth
// of them, spread over all.
type certArena struct {
	slab  []Cert
	texts strchunks.Chunks
	// trusted are the trust set's issuers; foreign the names of the others
	// the Certs met, forgotten with the last Cert that names one
	// (forgetIssuers).
	trust   *certsource.Trust
	trusted map[certsource.IssuerID]*certIssuer
	foreign map[string]*certIssuer
}

// Slab and chunk sizes: large enough that their allocations are few, small
// enough that a slab's or chunk's unused end is nothing beside 136,000 Certs.
const (
	certSlab  = 256
	textChunk = 16 << 10
)

func newCertArena(trust *certsource.Trust) certArena {
	return certArena{texts: strchunks.Chunks{Size: textChunk}, trust: trust, trusted: map[certsource.IssuerID]*certIssuer{}, foreign: map[string]*certIssuer{}}
}

// cert is a new Cert for f.
func (a *certArena) cert(f classified) *Cert {
	if len(a.slab) == 0 {
		a.slab = make([]Cert, certSlab)
	}
	c := &a.slab[0]
	a.slab = a.slab[1:]
	*c = f.cert
	c.text = a.texts.Bytes(f.text)
	c.issuer = a.issuer(f.id, f.name)
	return c
}

// issuer is the certIssuer of a certificate issued by the trusted CA id, or
// when id is "", by the foreign issuer name.
func (a *certArena) issuer(id certsource.IssuerID, name string) *certIssuer {
	if id != "" {
		is := a.trusted[id]
		if is == nil {
			is = &certIssuer{id: id, name: a.trust.Name(id)}
			a.trusted[id] = is
		}
		return is
	}
	is := a.foreign[name]
	if is == nil {
		is = &certIssuer{name: name}
		a.foreign[name] = is
	}
	return is
}

// forgetIssuers forgets the foreign issuers no Cert of certs names: anybody
// who can write to the directory can make up issuers.
func (a *certArena) forgetIssuers(certs *certMap) {
	if len(a.foreign) == 0 {
		return
	}
	named := make(map[*certIssuer]bool, len(a.foreign))
	certs.each(func(c *Cert) {
		if c.issuer != nil && c.issuer.id == "" {
			named[c.issuer] = true
		}
	})
	for name, is := range a.foreign {
		if !named[is] {
			delete(a.foreign, name)
		}
	}
}
