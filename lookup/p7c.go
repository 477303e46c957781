package lookup

import (
	"bytes"

	"github.com/certgal/certgal/internal/asn1len"
)

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
	segs := make([][]byte, 0, len(sorted)+2)
	segs = append(segs, appendP7CHeader(nil, certsLen))
	segs = append(segs, sorted...)
	return append(segs, p7cTrailer)
}

// The constant parts of a certs-only SignedData. Read-only.
var (
	p7cOIDSignedData = []byte{0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02}
	p7cFixed         = []byte{
		0x02, 0x01, 0x01, // version 1
		0x31, 0x00, // digestAlgorithms: none
		0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01, // id-data, no content
	}
	p7cTrailer = []byte{0x31, 0x00} // signerInfos: none
)

// p7cMaxHeader is the longest header of a p7c holding less than 16 MiB of certificates.
const p7cMaxHeader = 4*5 + 11 + 18

// appendP7CHeader appends everything a p7c holds before certsLen bytes of certificates.
func appendP7CHeader(h []byte, certsLen int) []byte {
	certsTLV := asn1len.Size(certsLen)
	sdLen := len(p7cFixed) + 1 + certsTLV + certsLen + len(p7cTrailer)
	explicitLen := 1 + asn1len.Size(sdLen) + sdLen
	ciLen := len(p7cOIDSignedData) + 1 + asn1len.Size(explicitLen) + explicitLen

	h = asn1len.Append(append(h, 0x30), ciLen)
	h = append(h, p7cOIDSignedData...)
	h = asn1len.Append(append(h, 0xa0), explicitLen)
	h = asn1len.Append(append(h, 0x30), sdLen)
	h = append(h, p7cFixed...)
	return asn1len.Append(append(h, 0xa0), certsLen)
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

// p7cHeaderLen is the length of appendP7CHeader's header for certsLen bytes of certificates.
func p7cHeaderLen(certsLen int) int {
	var b [p7cMaxHeader]byte
	return len(appendP7CHeader(b[:0], certsLen))
}
