package sync

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	stdsync "sync"

	"github.com/smallstep/pkcs7"
)

// SMIMEMode is what certgal does with userSMIMECertificate, the PKCS#7 blob
// Outlook's "Publish to GAL" writes and prefers over userCertificate.
type SMIMEMode int

// The values of policy.smime_attribute.
const (
	// SMIMEReport reports blobs that hold only certgal's certificates and none
	// that should still be published, and changes nothing.
	SMIMEReport SMIMEMode = iota
	// SMIMERemoveStale deletes such blobs.
	SMIMERemoveStale
	// SMIMEManage keeps one certs-only PKCS#7 of the desired certificates in
	// the attribute, replacing certgal's other blobs.
	SMIMEManage
)

// ParseSMIMEMode reads policy.smime_attribute; "" is report.
func ParseSMIMEMode(s string) (SMIMEMode, error) {
	switch s {
	case "", "report":
		return SMIMEReport, nil
	case "remove-stale":
		return SMIMERemoveStale, nil
	case "manage":
		return SMIMEManage, nil
	}
	return SMIMEReport, fmt.Errorf("policy.smime_attribute: %q is not report, remove-stale or manage", s)
}

// Blob is one userSMIMECertificate value as the reconcile sees it.
type Blob struct {
	Hash [32]byte
	DER  []byte
	// Broken says the value is not a PKCS#7 SignedData holding certificates.
	// A broken blob is reported and never deleted: certgal cannot tell whose it is.
	Broken bool
	// Leaves are the end-entity certificates: the keys senders encrypt to.
	// CA certificates (the chain Outlook may add) are not leaves and do not
	// make a blob anyone's.
	Leaves []*Cert
	// certs holds the SHA-256 of every certificate in the blob, chain included.
	certs [][32]byte
}

// owned reports whether every key in b is certgal's, which lets certgal delete it.
func (b *Blob) owned() bool {
	if b.Broken || len(b.Leaves) == 0 {
		return false
	}
	for _, x := range b.Leaves {
		if !x.Owned() {
			return false
		}
	}
	return true
}

// holdsExactly reports whether b holds the certificates certs and nothing else.
func (b *Blob) holdsExactly(certs []*Cert) bool {
	if b.Broken || len(b.certs) != len(certs) {
		return false
	}
	for _, x := range certs {
		if !slices.Contains(b.certs, x.Hash) {
			return false
		}
	}
	return true
}

func (b *Blob) first() *Cert {
	if len(b.Leaves) > 0 {
		return b.Leaves[0]
	}
	return nil
}

// ParseSMIME reads a userSMIMECertificate value: the certificates of a PKCS#7
// SignedData (BER or DER, signed or certs-only). It never panics on hostile
// input; a value without certificates is an error.
func ParseSMIME(der []byte) (certs []*x509.Certificate, err error) {
	defer func() {
		if r := recover(); r != nil {
			certs, err = nil, fmt.Errorf("parse PKCS#7: %v", r)
		}
	}()
	if err := wholeValue(der); err != nil {
		return nil, fmt.Errorf("parse PKCS#7: %w", err)
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("parse PKCS#7: %w", err)
	}
	if len(p7.Certificates) == 0 {
		return nil, errors.New("parse PKCS#7: no certificates (not a SignedData, or an empty one)")
	}
	return p7.Certificates, nil
}

// wholeValue checks that the outer DER SEQUENCE of der spans all of it: the
// PKCS#7 parser tolerates bytes after it, which no honest blob carries. A BER
// indefinite length is left to the parser.
func wholeValue(der []byte) error {
	if len(der) < 2 || der[0] != 0x30 {
		return errors.New("not a SEQUENCE")
	}
	n, head := int(der[1]), 2
	switch {
	case n == 0x80:
		return nil
	case n > 0x80:
		k := n & 0x7f
		if k > 4 || len(der) < 2+k {
			return errors.New("bad length")
		}
		n, head = 0, 2+k
		for _, b := range der[2 : 2+k] {
			n = n<<8 | int(b)
		}
	}
	if head+n != len(der) {
		return fmt.Errorf("%d bytes after the value", len(der)-head-n)
	}
	return nil
}

// EncodeSMIME writes certs as a certs-only PKCS#7 SignedData (DER), the form
// `openssl crl2pkcs7 -nocrl` makes and Outlook reads, in the given order.
func EncodeSMIME(certs []*Cert) ([]byte, error) { return encodeSMIME(certs, nil) }

// encodeSMIME is EncodeSMIME with der finding the DER a Cert has not (nil:
// Cert.DER only).
func encodeSMIME(certs []*Cert, der func(*Cert) ([]byte, error)) ([]byte, error) {
	var concat bytes.Buffer
	for _, x := range certs {
		v := x.DER()
		if v == nil && der != nil {
			var err error
			if v, err = der(x); err != nil {
				return nil, fmt.Errorf("encode PKCS#7: %w", err)
			}
		}
		if len(v) == 0 {
			return nil, fmt.Errorf("encode PKCS#7: certificate %s has no DER", x.SerialHex())
		}
		concat.Write(v)
	}
	out, err := pkcs7.DegenerateCertificate(concat.Bytes())
	if err != nil {
		return nil, fmt.Errorf("encode PKCS#7: %w", err)
	}
	return out, nil
}

// NewBlob classifies a userSMIMECertificate value with classify, which turns
// each certificate found in it into a Cert (a Classifier's Parsed, say).
func NewBlob(der []byte, classify func(x *x509.Certificate, hash [32]byte) *Cert) *Blob {
	b := &Blob{Hash: sha256.Sum256(der), DER: der}
	certs, err := ParseSMIME(der)
	if err != nil {
		b.Broken = true
		return b
	}
	for _, x := range certs {
		h := sha256.Sum256(x.Raw)
		b.certs = append(b.certs, h)
		if !x.IsCA {
			b.Leaves = append(b.Leaves, classify(x, h))
		}
	}
	return b
}

// plannedBlob is the blob certgal writes under policy manage, as Calculate
// plans it: its leaves are the desired certificates, but its DER, which needs
// theirs from the CA store, is written later by encode (Plan.encodeBlobs), so
// that planning reads nothing. Until then DER is nil and Hash zero.
func plannedBlob(desired []*Cert) *Blob {
	b := &Blob{Leaves: desired}
	for _, x := range desired {
		b.certs = append(b.certs, x.Hash)
	}
	return b
}

// encode writes a planned blob's DER and hash: the certs-only PKCS#7 of its
// leaves, whose DER der finds. A blob that has its DER is left as it is.
func (b *Blob) encode(der func(*Cert) ([]byte, error)) error {
	if b.DER != nil {
		return nil
	}
	out, err := encodeSMIME(b.Leaves, der)
	if err != nil {
		return err
	}
	b.DER, b.Hash = out, sha256.Sum256(out)
	return nil
}

// smimeSize is the size of the certs-only PKCS#7 of certs (EncodeSMIME),
// known from their sizes alone: the DER headers around the certificates.
func smimeSize(certs []*Cert) int {
	n := 0
	for _, x := range certs {
		n += x.Size()
	}
	const (
		version     = 3  // INTEGER 1
		emptySet    = 2  // digestAlgorithms, crls, signerInfos
		dataContent = 13 // SEQUENCE { OID data }
		signedOID   = 11 // OID signedData
	)
	signedData := tlv(version + emptySet + dataContent + tlv(n) + 2*emptySet)
	return tlv(signedOID + tlv(signedData))
}

// tlv is the DER size of a value whose contents take n bytes: tag, length, contents.
func tlv(n int) int {
	switch {
	case n < 0x80:
		return 2 + n
	case n < 0x100:
		return 3 + n
	case n < 0x10000:
		return 4 + n
	case n < 0x1000000:
		return 5 + n
	}
	return 6 + n
}

// blobCache keeps classified blobs by hash between passes, as Classifier
// does certificates: most blobs are the same from one pass to the next.
type blobCache struct {
	mu   stdsync.Mutex
	cur  map[[32]byte]*Blob
	prev map[[32]byte]*Blob
}

func newBlobCache() *blobCache { return &blobCache{cur: map[[32]byte]*Blob{}} }

func (k *blobCache) get(der []byte, classes *Classifier) *Blob {
	h := sha256.Sum256(der)
	k.mu.Lock()
	b, ok := k.cur[h]
	if !ok {
		b, ok = k.prev[h]
	}
	k.mu.Unlock()
	if !ok {
		// der may share a buffer with the rest of the directory's answer: keep a copy.
		b = NewBlob(bytes.Clone(der), classes.Parsed)
	}
	k.mu.Lock()
	k.cur[h] = b
	k.mu.Unlock()
	return b
}

func (k *blobCache) endPass() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.prev, k.cur = k.cur, map[[32]byte]*Blob{}
}
