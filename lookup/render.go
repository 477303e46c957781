package lookup

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
)

// Every body is rendered per request from the certificates' bytes, read from the store into a
// buffer the handler reuses; their lengths are computed from the records, for Content-Length.
// The bytes are those pem.EncodeToMemory and json.Marshal make (render_test.go holds them to
// it), and the p7c's are p7cSegments'.
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

// corruptError is a certificate's bytes in the store that are not those it was written with.
type corruptError struct {
	sum  [32]byte
	part string // "DER" or "JSON fields"
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("certificate %x: its %s in the store changed", e.sum[:8], e.part)
}

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

// served is the certificates of set sn that format f serves: a .cer holds the newest alone.
func (ix *Index) served(sn uint32, f int) []uint32 {
	certs := ix.setCerts(sn)
	if f == fmtDER {
		return certs[:1]
	}
	return certs
}

// bodyLen is the length of set sn's body in format f.
func (ix *Index) bodyLen(sn uint32, f int) int {
	certs := ix.served(sn, f)
	n := 0
	switch f {
	case fmtDER:
		n = int(ix.certs[certs[0]].der)
	case fmtP7C:
		for _, k := range certs {
			n += int(ix.certs[k].der)
		}
		n = p7cHeaderLen(n) + n + len(p7cTrailer)
	case fmtPEM:
		for _, k := range certs {
			n += pemLen(int(ix.certs[k].der), "\n")
		}
	case fmtJSON:
		n = len(jsonHead) + len(certs) - 1 + len(jsonTail) // the commas between the elements
		for _, k := range certs {
			c := &ix.certs[k]
			n += int(c.fields) + pemLen(int(c.der), `\n`) + len(jsonPEMEnd)
		}
	}
	return n
}

// loaded is how many bytes load reads of c: its DER, and its JSON fields when fields is set.
func (c *cert) loaded(fields bool) int {
	if fields {
		return int(c.der) + int(c.fields)
	}
	return int(c.der)
}

// loadLen is how many bytes load reads for certs.
func (ix *Index) loadLen(certs []uint32, fields bool) int {
	n := 0
	for _, k := range certs {
		n += ix.certs[k].loaded(fields)
	}
	return n
}

// load appends the bytes of certs to dst (with their JSON fields when fields is set), each
// checked against the sums it was written with: bytes that changed in the store are never
// served.
func (ix *Index) load(dst []byte, certs []uint32, fields bool) ([]byte, error) {
	for _, k := range certs {
		var err error
		if dst, err = ix.body.load(dst, &ix.certs[k], fields); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// load appends c's bytes to dst, checked.
func (v storeView) load(dst []byte, c *cert, fields bool) ([]byte, error) {
	start := len(dst)
	dst, err := v.readAt(dst, c.at, c.loaded(fields))
	if err != nil {
		return dst, err
	}
	b := dst[start:]
	if sha256.Sum256(b[:c.der]) != c.sum {
		return dst, &corruptError{sum: c.sum, part: "DER"}
	}
	if fs := sha256.Sum256(b[c.der:]); fields && [8]byte(fs[:8]) != c.fieldsSum {
		return dst, &corruptError{sum: c.sum, part: "JSON fields"}
	}
	return dst, nil
}

// loadKeys appends c's search keys to dst, checked.
func (v storeView) loadKeys(dst []byte, c *cert) ([]byte, error) {
	start := len(dst)
	dst, err := v.readAt(dst, c.at+int64(c.loaded(true)), keysLen)
	if err != nil {
		return dst, err
	}
	if ks := sha256.Sum256(dst[start:]); [8]byte(ks[:8]) != c.keysSum {
		return dst, &corruptError{sum: c.sum, part: "search keys"}
	}
	return dst, nil
}

// loadAll appends all of c's bytes to dst, checked.
func (v storeView) loadAll(dst []byte, c *cert) ([]byte, error) {
	start := len(dst)
	dst, err := v.load(dst, c, true)
	if err != nil {
		return dst, err
	}
	if dst, err = v.loadKeys(dst, c); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// appendBody appends set sn's body in format f to buf, read from the store; body is the
// body, in buf. buf is grown once to hold the bytes read and the body after them.
func (ix *Index) appendBody(buf []byte, sn uint32, f int) (_, body []byte, err error) {
	certs := ix.served(sn, f)
	fields := f == fmtJSON
	start := len(buf)
	buf = slices.Grow(buf, ix.loadLen(certs, fields)+ix.bodyLen(sn, f))
	if buf, err = ix.load(buf, certs, fields); err != nil {
		return buf[:start], nil, err
	}
	loaded := buf[start:]
	out := len(buf)
	switch f {
	case fmtDER:
		return buf, loaded[:ix.certs[certs[0]].der], nil
	case fmtP7C:
		buf = ix.appendP7C(buf, certs, loaded)
	case fmtPEM:
		for _, k := range certs {
			c := &ix.certs[k]
			buf = appendPEM(buf, loaded[:c.der], "\n")
			loaded = loaded[c.der:]
		}
	case fmtJSON:
		buf = ix.appendJSON(buf, certs, loaded)
	}
	return buf, buf[out:], nil
}

// appendJSON appends the JSON document of certs, whose bytes are loaded: each one's fields,
// then its PEM as a JSON string.
func (ix *Index) appendJSON(dst []byte, certs []uint32, loaded []byte) []byte {
	dst = append(dst, jsonHead...)
	for i, k := range certs {
		if i > 0 {
			dst = append(dst, ',')
		}
		c := &ix.certs[k]
		dst = append(dst, loaded[c.der:c.loaded(true)]...)
		dst = appendPEM(dst, loaded[:c.der], `\n`)
		dst = append(dst, jsonPEMEnd...)
		loaded = loaded[c.loaded(true):]
	}
	return append(dst, jsonTail...)
}

// maxSortedOnStack is the most certificates of a p7c sorted without an allocation.
const maxSortedOnStack = 16

// appendP7C appends the p7c of certs, whose DER are loaded.
func (ix *Index) appendP7C(dst []byte, certs []uint32, loaded []byte) []byte {
	var small [maxSortedOnStack][]byte
	ders := small[:0]
	n := 0
	for _, k := range certs {
		c := &ix.certs[k]
		ders = append(ders, loaded[:c.der])
		n += int(c.der)
		loaded = loaded[c.der:]
	}
	sortDER(ders)
	dst = appendP7CHeader(dst, n)
	for _, d := range ders {
		dst = append(dst, d...)
	}
	return append(dst, p7cTrailer...)
}
