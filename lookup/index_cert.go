package lookup

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"
)

// certJSON is the JSON form of one certificate (documented in the README).
type certJSON struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	SHA256    string    `json:"sha256"`
	PEM       string    `json:"pem"`
}

// newCertJSON is what the JSON format says of x, but its PEM.
func newCertJSON(x *x509.Certificate, sum [32]byte) certJSON {
	return certJSON{
		Subject:   x.Subject.String(),
		Issuer:    x.Issuer.String(),
		Serial:    strings.ToUpper(x.SerialNumber.Text(16)),
		NotBefore: x.NotBefore.UTC(),
		NotAfter:  x.NotAfter.UTC(),
		SHA256:    hex.EncodeToString(sum[:]),
	}
}

// prepare parses a certificate and returns its record (but where it is) and the bytes the
// store keeps of it: its DER, then the fields of its JSON element before the PEM, then its
// search keys. false when der is no certificate.
func prepare(sum [32]byte, der []byte) (cert, []byte, bool) {
	x, err := x509.ParseCertificate(der)
	if err != nil {
		return cert{}, nil, false
	}
	keys, hasSKID, err := searchKeys(x)
	if err != nil {
		return cert{}, nil, false
	}
	// Marshalled without its PEM, the element ends in `"pem":""}`; what precedes the
	// value's closing quote is what appendJSON writes before the PEM.
	elem, err := json.Marshal(newCertJSON(x, sum))
	if err != nil {
		return cert{}, nil, false
	}
	if !bytes.HasSuffix(elem, []byte(`,"pem":""}`)) {
		panic("lookup: certJSON does not end in its pem field") // appendJSON depends on it
	}
	fields := elem[:len(elem)-len(jsonPEMEnd)]
	region := append(append(make([]byte, 0, len(der)+len(fields)+keysLen), der...), fields...)
	for _, key := range keys {
		region = append(region, key[:]...)
	}
	fs := sha256.Sum256(fields)
	ks := sha256.Sum256(region[len(der)+len(fields):])
	c := cert{sum: sum, fieldsSum: [8]byte(fs[:8]), keysSum: [8]byte(ks[:8]),
		notBefore: x.NotBefore.Unix(), notAfter: x.NotAfter.Unix(),
		hasSKID: hasSKID, der: uint32(len(der)), fields: uint32(len(fields))}
	for k, key := range keys {
		c.keys[k] = keyPrefix(key)
	}
	return c, region, true
}
