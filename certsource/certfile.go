package certsource

import (
	"bytes"
	"encoding/base64"
)

// appendCertificate appends the certificate decodeCertificate finds in data,
// a certificate file, to dst. A file that is one PEM certificate, as openssl
// writes them, is decoded straight into dst: a publish reads again every
// certificate it writes, and pem.Decode's block and slice of each were a good
// part of the writes' garbage (docs/BENCHMARKS.md, "The writes in the renewal
// pass, session 11"). Any other file is decodeCertificate's, so what is found
// is the same either way (FuzzAppendCertificate). On error, dst is returned
// as it was.
func appendCertificate(dst, data []byte) ([]byte, error) {
	if body, ok := pemCertificateBody(data); ok && !bytes.Contains(data, privateKeyEnd) {
		if out, err := base64.StdEncoding.AppendDecode(dst, body); err == nil {
			return out, nil
		}
	}
	der, err := decodeCertificate(data)
	if err != nil {
		return dst, err
	}
	return append(dst, der...), nil
}

var (
	privateKeyEnd = []byte("PRIVATE KEY-----")
	pemBegin      = []byte("-----BEGIN ")
	pemCertBegin  = []byte("-----BEGIN CERTIFICATE-----")
	pemCertEnd    = []byte("\n-----END CERTIFICATE-----")
)

// pemCertificateBody is the base64 of the one PEM block of data when it is a
// CERTIFICATE, its BEGIN line the first of data's with "-----BEGIN " in it
// (text may come before it: openssl's -text output) and nothing but
// whitespace after its END line; ok is false for any other file. The body
// may still hold what is not base64 (headers, spaces), which decoding it
// finds.
func pemCertificateBody(data []byte) (body []byte, ok bool) {
	i := bytes.Index(data, pemBegin)
	if i < 0 || i > 0 && data[i-1] != '\n' || !bytes.HasPrefix(data[i:], pemCertBegin) {
		return nil, false
	}
	rest := data[i+len(pemCertBegin):]
	switch {
	case bytes.HasPrefix(rest, []byte("\n")):
		rest = rest[1:]
	case bytes.HasPrefix(rest, []byte("\r\n")):
		rest = rest[2:]
	default:
		return nil, false
	}
	j := bytes.Index(rest, pemCertEnd)
	if j < 0 {
		return nil, false
	}
	if len(bytes.TrimLeft(rest[j+len(pemCertEnd):], " \t\r\n")) > 0 {
		return nil, false
	}
	return rest[:j], true
}
