package lookup

import "encoding/base64"

// The PEM and JSON bodies are rendered per request from the DER, into a buffer the handler
// reuses; their lengths are computed when the index is built, for Content-Length. The bytes
// are those pem.EncodeToMemory and json.Marshal make (render_test.go holds them to it).
const (
	pemBegin = "-----BEGIN CERTIFICATE-----"
	pemEnd   = "-----END CERTIFICATE-----"
	// pemLineBytes of DER are one line of base64: encoding/pem's 64 characters.
	pemLineBytes = 48

	jsonHead = `{"certificates":[`
	// jsonPEMEnd closes the pem value, the last field of a certificate's element.
	jsonPEMEnd = `"}`
	jsonTail   = "]}\n"
)

// appendPEM appends der as a PEM CERTIFICATE block whose line breaks are nl: "\n", or `\n`
// for the PEM as a JSON string (base64 and the markers need no other escaping).
func appendPEM(dst, der []byte, nl string) []byte {
	dst = append(append(dst, pemBegin...), nl...)
	for len(der) > 0 {
		line := der[:min(pemLineBytes, len(der))]
		dst = append(base64.StdEncoding.AppendEncode(dst, line), nl...)
		der = der[len(line):]
	}
	return append(append(dst, pemEnd...), nl...)
}

// pemLen is the length of appendPEM's block for a DER of derLen bytes.
func pemLen(derLen int, nl string) int {
	lines := (derLen + pemLineBytes - 1) / pemLineBytes
	return len(pemBegin) + base64.StdEncoding.EncodedLen(derLen) + len(pemEnd) + (lines+2)*len(nl)
}

// appendPEMSet appends the certificates' PEM blocks, one after the other.
func (ix *Index) appendPEMSet(dst []byte, certs []uint32) []byte {
	for _, n := range certs {
		dst = appendPEM(dst, ix.bytes(ix.certs[n].derSpan()), "\n")
	}
	return dst
}

func (ix *Index) pemLen(certs []uint32) int {
	n := 0
	for _, k := range certs {
		n += pemLen(ix.certs[k].der, "\n")
	}
	return n
}

// appendJSON appends the JSON document of the certificates: each one's prepared fields, then
// its PEM as a JSON string.
func (ix *Index) appendJSON(dst []byte, certs []uint32) []byte {
	dst = append(dst, jsonHead...)
	for i, n := range certs {
		if i > 0 {
			dst = append(dst, ',')
		}
		c := &ix.certs[n]
		dst = append(dst, ix.bytes(c.jsonFieldsSpan())...)
		dst = appendPEM(dst, ix.bytes(c.derSpan()), `\n`)
		dst = append(dst, jsonPEMEnd...)
	}
	return append(dst, jsonTail...)
}

func (ix *Index) jsonLen(certs []uint32) int {
	n := len(jsonHead) + len(certs) - 1 + len(jsonTail) // the commas between the elements
	for _, k := range certs {
		c := &ix.certs[k]
		n += c.jsonFields + pemLen(c.der, `\n`) + len(jsonPEMEnd)
	}
	return n
}

// appendBody appends the body of s's response in format f.
func (ix *Index) appendBody(dst []byte, s *set, f int) []byte {
	switch f {
	case fmtPEM:
		return ix.appendPEMSet(dst, ix.setCerts(s))
	case fmtJSON:
		return ix.appendJSON(dst, ix.setCerts(s))
	}
	return append(dst, ix.bytes(s.reps[f].body)...)
}
