package lookup

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"time"
)

// certJSON is the JSON form of one certificate (documented in the README). appendFields
// writes it, in this order, without its PEM.
type certJSON struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	SHA256    string    `json:"sha256"`
	PEM       string    `json:"pem"`
}

// prepare reads a certificate and appends to dst the bytes the store keeps of it: its DER,
// then the fields of its JSON element before the PEM, then its search keys. It returns the
// record (but where it is) and dst; false when der is no certificate. With issuers, der is
// known to parse with crypto/x509 (Options.Parsed): it is read without the full parse
// (readFields) when it can be, its issuer's name from issuers.
func prepare(dst []byte, sum [32]byte, der []byte, issuers *nameCache) (cert, []byte, bool) {
	var f certFields
	if issuers == nil || !readFields(der, issuers, &f) {
		x, err := x509.ParseCertificate(der)
		if err != nil {
			return cert{}, dst, false
		}
		if f, err = x509Fields(x); err != nil {
			return cert{}, dst, false
		}
	}
	ok := false
	keys, hasSKID, err := f.searchKeys()
	if err != nil {
		return cert{}, dst, false
	}
	start := len(dst)
	dst = append(dst, der...)
	if dst, ok = appendFields(dst, &f, sum); !ok {
		return cert{}, dst[:start], false
	}
	fields := len(dst) - start - len(der)
	for _, key := range keys {
		dst = append(dst, key[:]...)
	}
	region := dst[start:]
	fs := sha256.Sum256(region[len(der) : len(der)+fields])
	ks := sha256.Sum256(region[len(der)+fields:])
	c := cert{sum: sum, fieldsSum: [8]byte(fs[:8]), keysSum: [8]byte(ks[:8]),
		notBefore: f.notBefore.Unix(), notAfter: f.notAfter.Unix(),
		hasSKID: hasSKID, der: uint32(len(der)), fields: uint32(fields)}
	for k, key := range keys {
		c.keys[k] = keyPrefix(key)
	}
	return c, dst, true
}

// appendFields appends what json.Marshal makes of f's certJSON up to its PEM's value:
// `{"subject":…,"sha256":"…","pem":"`; appendJSON writes the PEM and what closes the element
// after it. The bytes are json.Marshal's (index_cert_test.go holds them to it). false where
// json.Marshal fails: a time it cannot write.
func appendFields(dst []byte, f *certFields, sum [32]byte) ([]byte, bool) {
	dst = append(dst, `{"subject":`...)
	if f.hasDN {
		start := len(dst)
		dst = f.subjectDN.appendTo(append(dst, '"'))
		if !jsonVerbatim(dst[start+1:]) {
			dst = appendJSONString(dst[:start], string(dst[start+1:]))
		} else {
			dst = append(dst, '"')
		}
	} else {
		dst = appendJSONString(dst, f.subject)
	}
	dst = append(dst, `,"issuer":`...)
	dst = appendJSONString(dst, f.issuer)
	dst = append(dst, `,"serial":"`...)
	start := len(dst)
	dst = f.serial.Append(dst, 16)
	for i, c := range dst[start:] { // strings.ToUpper of the hex digits
		if 'a' <= c && c <= 'f' {
			dst[start+i] = c - 'a' + 'A'
		}
	}
	dst = append(dst, `","notBefore":"`...)
	b, err := f.notBefore.UTC().AppendText(dst)
	if err != nil {
		return dst, false
	}
	dst = append(b, `","notAfter":"`...)
	if b, err = f.notAfter.UTC().AppendText(dst); err != nil {
		return dst, false
	}
	dst = b
	dst = append(dst, `","sha256":"`...)
	dst = hex.AppendEncode(dst, sum[:])
	return append(dst, `","pem":"`...), true
}

// appendJSONString appends s as json.Marshal writes it. The subjects and issuers of
// certificates are almost always printable ASCII that JSON takes as it is; any other string
// is handed to json.Marshal.
func appendJSONString(dst []byte, s string) []byte {
	if !jsonVerbatim(s) {
		b, _ := json.Marshal(s) // a string always marshals
		return append(dst, b...)
	}
	return append(append(append(dst, '"'), s...), '"')
}

// jsonVerbatim says whether json.Marshal writes s as it is, between quotes.
func jsonVerbatim[S string | []byte](s S) bool {
	for i := range len(s) {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
