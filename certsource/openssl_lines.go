package certsource

// readLines are the certificates of a read of index.txt, as the read's
// snapshot has them and a quick read gives them again: each line's file
// record and status. A daemon keeps these between passes rather than the
// snapshot's Certificates, 16 bytes a certificate instead of 128 (and the
// Certificates are built again for each snapshot, which a pass holds only
// while it runs: docs/BENCHMARKS.md, "Results, eighth round").
type readLines struct {
	lines []readLine
	// revoked are the dates and reasons of the R lines, which are few; each
	// snapshot's Certificates point to them.
	revoked []Revoked
}

// readLine is one line's certificate: f's, with the line's status, and for
// an R line the index of its date and reason in readLines.revoked.
type readLine struct {
	file   *cachedFile
	rev    int32
	status uint8 // a Status
}

// add appends the certificate of f, the file of index.txt's line e.
func (r *readLines) add(f *cachedFile, e indexEntry) {
	l := readLine{file: f, status: uint8(e.Status), rev: -1}
	if e.Revoked != nil {
		l.rev = int32(len(r.revoked))
		r.revoked = append(r.revoked, *e.Revoked)
	}
	r.lines = append(r.lines, l)
}

// certificates are the lines' Certificates, new ones, in one allocation, with
// what Read parsed of their files from parsed (nil: nothing).
func (r *readLines) certificates(parsed map[*cachedFile]parsedFile) []*Certificate {
	all := make([]Certificate, len(r.lines))
	out := make([]*Certificate, len(r.lines))
	for i, l := range r.lines {
		f := l.file
		c := &all[i]
		*c = Certificate{Hash: f.hash, Origin: f.path, Status: Status(l.status)}
		if p, ok := parsed[f]; ok {
			c.Cert, c.DER = p.cert, p.der
		}
		if l.rev >= 0 {
			c.Revoked = &r.revoked[l.rev]
		}
		out[i] = c
	}
	return out
}
