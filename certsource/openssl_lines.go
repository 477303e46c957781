package certsource

import "crypto/x509"

// readLines are the certificates of a read of index.txt, as the read's
// snapshot has them and a quick read gives them again: each line's file
// record and status. A daemon keeps these between passes rather than the
// snapshot's Certificates, 12 bytes a certificate instead of 88 (and the
// Certificates are built again for each snapshot, which a pass holds only
// while it runs: docs/BENCHMARKS.md, "Results, eighth round").
type readLines struct {
	lines []readLine
	// revoked are the dates and reasons of the R lines, which are few; each
	// snapshot's Certificates point to them.
	revoked []Revoked
}

// readLine is one line's certificate: that of the file of the cache's
// record at file, with the line's status, and for an R line the index of
// its date and reason in readLines.revoked.
type readLine struct {
	file   int32
	rev    int32
	status Status
}

// add appends the certificate of the file of the cache's record at file,
// the file of index.txt's line e.
func (r *readLines) add(file int32, e indexEntry) {
	l := readLine{file: file, status: e.Status, rev: -1}
	if rev := e.Revoked(); rev != nil {
		l.rev = int32(len(r.revoked))
		r.revoked = append(r.revoked, *rev)
	}
	r.lines = append(r.lines, l)
}

// certificates are the lines' Certificates, new ones, in one allocation,
// with what Read parsed of their files from parsed (nil: nothing); cache is
// the records of their files. They name their files from a view of the
// cache's names (Certificate.Origin). Under the source's lock.
func (r *readLines) certificates(cache *fileTable, parsed map[int32]*x509.Certificate) []*Certificate {
	all := make([]Certificate, len(r.lines))
	out := make([]*Certificate, len(r.lines))
	names := cache.names.view()
	for i, l := range r.lines {
		f := cache.rec(l.file)
		c := &all[i]
		*c = Certificate{Hash: f.hash, names: names, name: f.name, Status: l.status, Cert: parsed[l.file]}
		if l.rev >= 0 {
			c.Revoked = &r.revoked[l.rev]
		}
		out[i] = c
	}
	return out
}
