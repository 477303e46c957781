package certsource

// Refs finds the certificates of a snapshot again, by their positions in
// it, once the snapshot's Certificates are gone. A pass classifies every
// certificate of the store and then needs the DER of few of them (those it
// writes or publishes); a Certificate is 80 bytes and a pointer, where an
// OpenSSL store's file is named by 4 (its entry in the source's names), so
// a pass need not hold the snapshot while it reads the directory and plans
// (docs/BENCHMARKS.md, "The renewal pass's read and planning").
type Refs struct {
	// names and name, when all of a snapshot's certificates are files of
	// an OpenSSL source read unparsed: name is each one's entry in names.
	names *fileNames
	name  []uint32
	// certs are the snapshot's own Certificates, of any other snapshot.
	certs []*Certificate
}

// RefsOf is the Refs of certs, a snapshot's Certificates.
func RefsOf(certs []*Certificate) Refs {
	var names *fileNames
	for _, c := range certs {
		if c.names == nil || c.Cert != nil || (names != nil && c.names != names) {
			return Refs{certs: certs}
		}
		names = c.names
	}
	name := make([]uint32, len(certs))
	for i, c := range certs {
		name[i] = c.name
	}
	return Refs{names: names, name: name}
}

// Len is how many certificates r names.
func (r *Refs) Len() int {
	if r.names != nil {
		return len(r.name)
	}
	return len(r.certs)
}

// Certificate is the certificate at position i, whose Hash is hash, as an
// UnparsedSource's AppendDER finds it again: of an OpenSSL snapshot, a new
// Certificate with its Hash and file, not its status; otherwise the
// snapshot's own.
func (r *Refs) Certificate(i int, hash [32]byte) *Certificate {
	if r.names == nil {
		return r.certs[i]
	}
	return &Certificate{Hash: hash, names: r.names, name: r.name[i]}
}

// Keep is the Refs of the certificates at positions pos of r, in that
// order: what a consumer keeps of a snapshot once it knows which of its
// certificates it may still need.
func (r *Refs) Keep(pos []uint32) Refs {
	if r.names == nil {
		certs := make([]*Certificate, len(pos))
		for i, p := range pos {
			certs[i] = r.certs[p]
		}
		return Refs{certs: certs}
	}
	name := make([]uint32, len(pos))
	for i, p := range pos {
		name[i] = r.name[p]
	}
	return Refs{names: r.names, name: name}
}
