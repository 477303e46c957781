package sync

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"iter"
	"math"
	"time"

	"github.com/certgal/certgal/certsource"
)

// Cert is a certificate as the reconcile sees it: parsed once, its issuer
// verified once, reduced to what the rules need. A daemon keeps one for each
// certificate of the store and the directory (136,000 at 100,000 users), so
// it is a few words: its strings are one (text), its issuer one pointer
// shared by every certificate of that issuer (docs/BENCHMARKS.md, "The
// classification cache in a compact form").
type Cert struct {
	Hash [32]byte
	// text is SerialHex, then the Emails, each after its length as a
	// uvarint (certText): one string, cut from a chunk the Classifier or
	// the file cache shares among many Certs.
	text string
	// issuer is who issued it (Issuer, IssuerName): the same for every
	// certificate of one issuer, but for an owned value that keeps its DER;
	// nil for a value that does not parse.
	issuer *certIssuer
	size   uint32 // bytes of DER; a directory value is far below 4 GiB
	// pass is the Classifier's pass that last used the Cert (0: none yet,
	// loaded from the file cache); guarded by the Classifier's mutex.
	pass uint32
	// times are NotBefore and NotAfter in Unix seconds, 40 bits each
	// (setTimes): a certificate's times have no fraction of a second (RFC
	// 5280 4.1.2.5) and are within the years 0 to 9999, ±2^38 seconds of
	// 1970; a time.Time takes 24 bytes, an int64 8.
	times [2 * timeBytes]byte
	// unusable is why the certificate cannot carry encrypted mail, as an
	// index of unusableReasons (Unusable).
	unusable uint8
	// Broken says the value does not parse as a certificate.
	Broken bool
}

// certIssuer is a Cert's issuer: a trusted CA (id set) or a foreign issuer
// known by its name.
type certIssuer struct {
	id   certsource.IssuerID
	name string
	// der is kept only for an owned value parsed from the directory because
	// the CA store did not hand it over: certgal may have to remove it, and
	// the directory is where it is. Such a Cert has a certIssuer of its own.
	// The store's certificates are read again when one is published
	// (derSource), and a foreign value is known by its hash alone: a pass
	// over 100,000 users holds none of their bodies.
	der []byte
}

// Issuer is the trusted CA that issued c; "" when no trusted CA signed it.
func (c *Cert) Issuer() certsource.IssuerID {
	if c.issuer == nil {
		return ""
	}
	return c.issuer.id
}

// IssuerName is the issuer's DN: for an owned certificate the trusted CA's
// subject, byte for byte.
func (c *Cert) IssuerName() string {
	if c.issuer == nil {
		return ""
	}
	return c.issuer.name
}

// DER is the body of an owned value parsed from the directory that the CA
// store did not hand over; nil for every other (see certIssuer.der).
func (c *Cert) DER() []byte {
	if c.issuer == nil {
		return nil
	}
	return c.issuer.der
}

// Size is the length of c's DER.
func (c *Cert) Size() int { return int(c.size) }

// SerialHex is c's serial number as certsource.SerialHex writes it.
func (c *Cert) SerialHex() string {
	s, _ := cutText(c.text)
	return s
}

// Emails are the SAN rfc822Names as written, or, for a legacy certificate
// with none, the subject's emailAddress (see mailAddresses).
func (c *Cert) Emails() iter.Seq[string] {
	return func(yield func(string) bool) {
		_, rest := cutText(c.text)
		for rest != "" {
			var e string
			if e, rest = cutText(rest); !yield(e) {
				return
			}
		}
	}
}

// FirstEmail is the first of Emails; "" when there is none.
func (c *Cert) FirstEmail() string {
	_, rest := cutText(c.text)
	e, _ := cutText(rest)
	return e
}

// NotBefore is when c becomes valid.
func (c *Cert) NotBefore() time.Time { return time.Unix(c.notBefore(), 0).UTC() }

// NotAfter is when c expires.
func (c *Cert) NotAfter() time.Time { return time.Unix(c.notAfter(), 0).UTC() }

// timeBytes is the size of a time in Cert.times.
const timeBytes = 5

// maxCertTime bounds the Unix seconds Cert.times holds, above year 9999.
const maxCertTime = 1<<(8*timeBytes-1) - 1

// notBefore and notAfter are NotBefore and NotAfter in Unix seconds.
func (c *Cert) notBefore() int64 { return certTime(c.times[:timeBytes]) }
func (c *Cert) notAfter() int64  { return certTime(c.times[timeBytes:]) }

// setTimes sets NotBefore and NotAfter, in Unix seconds within
// ±maxCertTime: false, and c unchanged, when one is not.
func (c *Cert) setTimes(notBefore, notAfter int64) bool {
	if max(notBefore, notAfter) > maxCertTime || min(notBefore, notAfter) < -maxCertTime {
		return false
	}
	for i := range timeBytes {
		shift := 8 * (timeBytes - 1 - i)
		c.times[i], c.times[timeBytes+i] = byte(notBefore>>shift), byte(notAfter>>shift)
	}
	return true
}

// certTime reads a time setTimes wrote: big-endian, two's complement.
func certTime(b []byte) int64 {
	v := int64(int8(b[0]))
	for _, x := range b[1:] {
		v = v<<8 | int64(x)
	}
	return v
}

// Unusable says why the certificate cannot carry encrypted mail; "" when it can.
func (c *Cert) Unusable() string { return unusableReasons[c.unusable] }

// Why a certificate cannot carry encrypted mail (Cert.unusable, unusable).
const (
	usable uint8 = iota
	noEmailProtection
	noKeyEncipherment
	noKeyAgreement
	keyCannotEncrypt
)

// unusableReasons are the reasons' names, as logs, metrics and the cache file
// write them.
var unusableReasons = [...]string{
	usable:            "",
	noEmailProtection: "no_email_protection",
	noKeyEncipherment: "no_key_encipherment",
	noKeyAgreement:    "no_key_agreement",
	keyCannotEncrypt:  "key_cannot_encrypt",
}

// Owned reports whether a trusted CA issued c, which makes its values certgal's.
func (c *Cert) Owned() bool { return c.Issuer() != "" }

// Classify reduces a parsed certificate to a Cert, which keeps x.Raw when a
// trusted CA issued it.
func Classify(x *x509.Certificate, trust *certsource.Trust) *Cert {
	f := classifyX509(x, trust)
	c := f.cert
	c.text = string(f.text)
	c.issuer = &certIssuer{id: f.id, name: f.name}
	if f.id != "" {
		c.issuer.der = x.Raw
	}
	return &c
}

// classified is what Classify finds of a certificate: the Cert but for its
// text and issuer, which the Classifier keeps among others' (certArena).
type classified struct {
	cert Cert
	text []byte
	id   certsource.IssuerID
	name string
}

// classifyX509 classifies x.
func classifyX509(x *x509.Certificate, trust *certsource.Trust) classified {
	f := classified{cert: Cert{
		Hash:     sha256.Sum256(x.Raw),
		size:     uint32(min(len(x.Raw), math.MaxUint32)),
		unusable: unusable(x),
	}}
	// x509 parses no year beyond 0 to 9999: always within setTimes's range.
	f.cert.setTimes(x.NotBefore.Unix(), x.NotAfter.Unix())
	f.text = appendCertText(nil, certsource.SerialHex(x.SerialNumber), mailAddresses(x))
	if id, ok := trust.Issuer(x); ok {
		// The issuer's DN is the trusted CA's subject, byte for byte: one
		// string for all its certificates instead of one each.
		f.id, f.name = id, trust.Name(id)
	} else {
		f.name = x.Issuer.String()
	}
	return f
}

// oidEmailAddress is PKCS #9 emailAddress, the subject attribute legacy
// certificates carry their address in.
var oidEmailAddress = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}

// mailAddresses are the addresses x is for: its SAN rfc822Names, or when it
// has none, the emailAddress attributes of its subject, which receiving
// agents must recognise then (RFC 5280 4.1.2.6, RFC 8550 3). A certificate
// with a SAN rfc822Name is matched by its SAN only.
func mailAddresses(x *x509.Certificate) []string {
	if len(x.EmailAddresses) > 0 {
		return x.EmailAddresses
	}
	var out []string
	for _, n := range x.Subject.Names {
		if s, ok := n.Value.(string); ok && n.Type.Equal(oidEmailAddress) {
			out = append(out, s)
		}
	}
	return out
}

// unusable checks the extended key usage and key usage an S/MIME recipient
// certificate needs to be encrypted to.
func unusable(x *x509.Certificate) uint8 {
	if len(x.ExtKeyUsage) > 0 || len(x.UnknownExtKeyUsage) > 0 {
		ok := false
		for _, u := range x.ExtKeyUsage {
			ok = ok || u == x509.ExtKeyUsageEmailProtection
		}
		if !ok {
			return noEmailProtection
		}
	}
	// An absent keyUsage extension permits every use (RFC 5280 4.2.1.3).
	switch x.PublicKey.(type) {
	case *rsa.PublicKey:
		if x.KeyUsage != 0 && x.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
			return noKeyEncipherment
		}
	case *ecdsa.PublicKey:
		if x.KeyUsage != 0 && x.KeyUsage&x509.KeyUsageKeyAgreement == 0 {
			return noKeyAgreement
		}
	default:
		return keyCannotEncrypt
	}
	return usable
}
