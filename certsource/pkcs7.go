package certsource

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/smallstep/pkcs7"
)

// ParsePKCS7 reads the certificates and CRLs of a DER (or BER) PKCS#7 / CMS
// SignedData, such as a certs-only .p7b or .p7c. Signatures on the content are
// not checked: only the certificates and CRLs inside are of interest, and each
// is verified on its own against the trusted CAs later.
func ParsePKCS7(der []byte) (certs []*x509.Certificate, crls []*x509.RevocationList, err error) {
	// The parser is outside code fed outside input: a panic in it must cost one
	// file, not the daemon.
	defer func() {
		if r := recover(); r != nil {
			certs, crls, err = nil, nil, fmt.Errorf("malformed PKCS#7 (parser panicked: %v)", r)
		}
	}()
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse PKCS#7: %w", err)
	}
	for i, l := range p7.CRLs {
		raw, err := asn1.Marshal(l)
		if err != nil {
			return nil, nil, fmt.Errorf("PKCS#7 CRL %d: %w", i, err)
		}
		crl, err := x509.ParseRevocationList(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("PKCS#7 CRL %d: %w", i, err)
		}
		crls = append(crls, crl)
	}
	if len(p7.Certificates) == 0 && len(crls) == 0 {
		return nil, nil, errors.New("PKCS#7 holds no certificates")
	}
	return p7.Certificates, crls, nil
}
