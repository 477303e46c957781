package lookup

// DER is the certificate with that SHA-256 as the index holds it, nil when it holds none. The
// slice is part of the index's arena: read it, never change it. A caller building the next
// index's entries takes what this one has rather than reading it again.
func (ix *Index) DER(sum [32]byte) []byte {
	if ix == nil {
		return nil
	}
	n, ok := ix.bySum[sum]
	if !ok {
		return nil
	}
	return ix.bytes(ix.certs[n].derSpan())
}
