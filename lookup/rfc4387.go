package lookup

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// The RFC 4387 section 2.2 search attributes for X.509 certificates, each the SHA-1 hash of
// some DER bytes of the certificate.
const (
	keyCert    = iota // certHash: the whole certificate
	keySubject        // sHash: the subject Name, as encoded in the certificate
	keyIssuer         // iHash: the issuer Name, as encoded in the certificate
	keyIAndS          // iAndSHash: IssuerAndSerialNumber (RFC 5652) of the certificate
	keySKID           // sKIDHash: the subjectKeyIdentifier's key identifier octets
	numKeys
)

// keyLen is the length of a search key, a SHA-1; keysLen of a certificate's keys in the store,
// in key order (a certificate without a subjectKeyIdentifier has zeros for it).
const (
	keyLen  = 20
	keysLen = numKeys * keyLen
)

// keyPrefix is the first bytes of a search key, which an index record holds.
func keyPrefix(key [20]byte) uint32 { return binary.BigEndian.Uint32(key[:4]) }

// searchAttrs are the query attribute names, in key order.
var searchAttrs = [numKeys]string{"certHash", "sHash", "iHash", "iAndSHash", "sKIDHash"}

// maxSearchResults is the most certificates one search answers with. It is above a user's
// policy.max_values (15 at most), so any one user's certificates fit; an iHash for the
// organisation's CA would list every user and is refused instead.
const maxSearchResults = 16

// strictBase64 rejects a last character with non-zero unused bits: one hash, one spelling.
// Read-only.
var strictBase64 = base64.RawStdEncoding.Strict()

// searchKeyLen is the length of a search key: base64 of a 20-byte SHA-1 without its padding
// (RFC 4387 section 2.1).
const searchKeyLen = 27

// searchKeys computes the five hashes of a certificate. Names and the serial are hashed as the
// certificate encodes them, never re-encoded: a re-encoded Name can differ in string types.
func (f *certFields) searchKeys() (keys [numKeys][20]byte, hasSKID bool, err error) {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(f.rawIssuer)
		b.AddBytes(f.rawSerial)
	})
	iands, err := b.Bytes()
	if err != nil {
		return keys, false, err
	}
	keys[keyCert] = sha1.Sum(f.raw)
	keys[keySubject] = sha1.Sum(f.rawSubject)
	keys[keyIssuer] = sha1.Sum(f.rawIssuer)
	keys[keyIAndS] = sha1.Sum(iands)
	if len(f.skid) > 0 {
		keys[keySKID] = sha1.Sum(f.skid)
		hasSKID = true
	}
	return keys, hasSKID, nil
}

// rawSerial returns the serialNumber INTEGER element (tag, length and content) of a
// TBSCertificate.
func rawSerial(tbs []byte) ([]byte, error) {
	in := cryptobyte.String(tbs)
	var body cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) {
		return nil, errors.New("tbsCertificate is no SEQUENCE")
	}
	if !body.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) {
		return nil, errors.New("bad version in tbsCertificate")
	}
	var serial cryptobyte.String
	if !body.ReadASN1Element(&serial, cbasn1.INTEGER) {
		return nil, errors.New("no serialNumber in tbsCertificate")
	}
	return serial, nil
}

// SearchKey returns the RFC 4387 search key of a hash: base64 without padding.
func SearchKey(sha1sum [20]byte) string {
	return base64.RawStdEncoding.EncodeToString(sha1sum[:])
}

// parseSearchKey decodes a search key. RFC 4387 section 2.1 wants exactly the base64
// alphabet, no padding: anything else is refused, not repaired.
func parseSearchKey(s string) (key [20]byte, ok bool) {
	if len(s) != searchKeyLen {
		return key, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return key, false
		}
	}
	n, err := strictBase64.Decode(key[:], []byte(s))
	return key, err == nil && n == len(key)
}
