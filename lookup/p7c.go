package lookup

import "bytes"

// p7cSegments renders a degenerate, certs-only PKCS#7 SignedData (RFC 5652 section 5; the
// .p7c of RFC 5751) holding ders, as a header, the certificates themselves (shared, not
// copied) and a trailer:
//
//	ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
//	SignedData ::= SEQUENCE { version 1, digestAlgorithms SET {}, encapContentInfo
//	    SEQUENCE { id-data }, certificates [0] IMPLICIT SET OF Certificate, signerInfos SET {} }
//
// DER orders the elements of a SET OF by their encodings; ders is not changed.
func p7cSegments(ders [][]byte) [][]byte {
	sorted := make([][]byte, len(ders))
	copy(sorted, ders)
	if len(sorted) > 1 {
		sortDER(sorted)
	}
	certsLen := 0
	for _, d := range sorted {
		certsLen += len(d)
	}
	oidSignedData := []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}
	fixed := []byte{
		0x02, 0x01, 0x01, // version 1
		0x31, 0x00, // digestAlgorithms: none
		0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, // id-data, no content
	}
	trailer := []byte{0x31, 0x00} // signerInfos: none

	certsTLV := tlvLen(certsLen)
	sdLen := len(fixed) + 1 + len(certsTLV) + certsLen + len(trailer)
	sdHdr := tlvLen(sdLen)
	explicitLen := 1 + len(sdHdr) + sdLen
	explicitHdr := tlvLen(explicitLen)
	ciLen := len(oidSignedData) + 1 + len(explicitHdr) + explicitLen

	var h []byte
	h = append(h, 0x30)
	h = append(h, tlvLen(ciLen)...)
	h = append(h, oidSignedData...)
	h = append(h, 0xa0)
	h = append(h, explicitHdr...)
	h = append(h, 0x30)
	h = append(h, sdHdr...)
	h = append(h, fixed...)
	h = append(h, 0xa0)
	h = append(h, certsTLV...)

	segs := make([][]byte, 0, len(sorted)+2)
	segs = append(segs, h)
	segs = append(segs, sorted...)
	return append(segs, trailer)
}

// tlvLen is the DER length octets of n.
func tlvLen(n int) []byte {
	if n < 0x80 {
		return []byte{byte(n)}
	}
	var b []byte
	for v := n; v > 0; v >>= 8 {
		b = append([]byte{byte(v)}, b...)
	}
	return append([]byte{0x80 | byte(len(b))}, b...)
}

// sortDER orders encodings as DER's SET OF wants: as octet strings, the shorter padded with
// zeros. bytes.Compare differs from that only when one encoding is a prefix of another,
// which two certificates (each a complete TLV) never are.
func sortDER(ders [][]byte) {
	for i := 1; i < len(ders); i++ {
		for j := i; j > 0 && bytes.Compare(ders[j-1], ders[j]) > 0; j-- {
			ders[j-1], ders[j] = ders[j], ders[j-1]
		}
	}
}
