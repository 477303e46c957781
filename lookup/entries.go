package lookup

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"

	"github.com/certgal/certgal/internal/mailaddr"
)

// Entries are the entries an index is built from, read where the caller keeps them: a caller
// whose entries are in another form (the daemon: a pass's published certificates) gives them
// through Entries rather than building a copy of every entry for the index to read once.
type Entries interface {
	Len() int
	// Addresses are entry i's addresses, compared as Entry.Addresses are.
	Addresses(i int) []string
	// NumCerts is how many certificates entry i has.
	NumCerts(i int) int
	// Sum is the SHA-256 of entry i's certificate j.
	Sum(i, j int) [32]byte
	// DER is entry i's certificate j. It is asked for only when the index does not hold the
	// certificate, one after the other; an error leaves the certificate out (DER logs it).
	DER(i, j int) ([]byte, error)
}

// errNoFetch: an entry gave its certificates by SHA-256 and Options had no Fetch.
var errNoFetch = errors.New("lookup: no DER and no Fetch")

// entrySlice is []Entry as Entries, with each certificate's SHA-256 computed once.
type entrySlice struct {
	entries []Entry
	sums    [][][32]byte
	fetch   func(i, j int) ([]byte, error)
}

func newEntrySlice(entries []Entry, fetch func(i, j int) ([]byte, error)) entrySlice {
	sums := make([][][32]byte, len(entries))
	for i, e := range entries {
		sums[i] = e.Sums
		if e.DER != nil {
			sums[i] = make([][32]byte, len(e.DER))
			for j, der := range e.DER {
				sums[i][j] = sha256.Sum256(der)
			}
		}
	}
	return entrySlice{entries: entries, sums: sums, fetch: fetch}
}

func (s entrySlice) Len() int                 { return len(s.entries) }
func (s entrySlice) Addresses(i int) []string { return s.entries[i].Addresses }
func (s entrySlice) NumCerts(i int) int       { return len(s.sums[i]) }
func (s entrySlice) Sum(i, j int) [32]byte    { return s.sums[i][j] }

func (s entrySlice) DER(i, j int) ([]byte, error) {
	if der := s.entries[i].DER; der != nil {
		return der[j], nil
	}
	if s.fetch == nil {
		return nil, errNoFetch
	}
	return s.fetch(i, j)
}

// fingerprint is the SHA-256 over the entries: their addresses as the index folds them and
// their certificates' sums, in order.
func fingerprint(src Entries) [32]byte {
	h := sha256.New()
	var n [8]byte
	var buf []byte
	for i := range src.Len() {
		addrs := src.Addresses(i)
		certs := src.NumCerts(i)
		binary.BigEndian.PutUint32(n[:4], uint32(len(addrs)))
		binary.BigEndian.PutUint32(n[4:], uint32(certs))
		h.Write(n[:])
		for _, a := range addrs {
			binary.BigEndian.PutUint32(n[:4], uint32(len(a)))
			h.Write(n[:4])
			buf = append(buf[:0], mailaddr.ASCIILower(a)...)
			h.Write(buf)
		}
		for j := range certs {
			s := src.Sum(i, j)
			h.Write(s[:])
		}
	}
	var fp [32]byte
	h.Sum(fp[:0])
	return fp
}
