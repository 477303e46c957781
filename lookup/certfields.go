package lookup

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	stdsync "sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// certFields is what the index needs of a certificate: its JSON element's fields and the
// encodings its RFC 4387 keys hash. The byte slices are parts of the DER.
type certFields struct {
	raw, rawSubject, rawIssuer []byte
	rawSerial                  []byte // the serialNumber INTEGER element, tag and length included
	subject, issuer            string // as pkix.Name's String writes them
	// subjectDN is the subject's attributes, when readDN read them: subject is then "" and
	// appendFields writes the subject from them.
	subjectDN           dn
	hasDN               bool
	serial              *big.Int
	notBefore, notAfter time.Time
	skid                []byte // the subjectKeyIdentifier's key identifier, nil when none
}

// x509Fields is what the index needs of a certificate crypto/x509 parsed.
func x509Fields(x *x509.Certificate) (certFields, error) {
	serial, err := rawSerial(x.RawTBSCertificate)
	if err != nil {
		return certFields{}, err
	}
	return certFields{
		raw: x.Raw, rawSubject: x.RawSubject, rawIssuer: x.RawIssuer, rawSerial: serial,
		subject: x.Subject.String(), issuer: x.Issuer.String(), serial: x.SerialNumber,
		notBefore: x.NotBefore, notAfter: x.NotAfter, skid: x.SubjectKeyId,
	}, nil
}

// readFields reads into f what the index needs of a certificate known to parse with
// crypto/x509 (Options.Parsed), its issuer's name from issuers when they have it, walking its
// TBSCertificate as x509.ParseCertificate does but skipping what the index does not use: the
// public key, the signature, every extension but the subjectKeyIdentifier. A full parse
// allocates many times as much, and a rebuild runs while the pass's data is live
// (docs/BENCHMARKS.md, "The lookup's rebuild without crypto/x509"). false when the
// certificate has anything the walk does not expect (a string type it does not read, say):
// prepare then parses it with crypto/x509. It does not validate what the walk skips, so it is
// only for certificates crypto/x509 has accepted.
func readFields(der []byte, issuers *nameCache, f *certFields) bool {
	version, tbs, ok := readTBS(der, f)
	serial := cryptobyte.String(f.rawSerial)
	f.serial = new(big.Int)
	if !ok || !serial.ReadASN1Integer(f.serial) || f.serial.Sign() < 0 ||
		!issuers.read(f.rawIssuer, &f.issuer) {
		return false
	}
	f.hasDN = readDN(f.rawSubject, &f.subjectDN)
	if !f.hasDN && !readName(f.rawSubject, &f.subject) {
		return false
	}
	if version == 2 { // v3: extensions
		if !tbs.SkipOptionalASN1(cbasn1.Tag(1).ContextSpecific()) ||
			!tbs.SkipOptionalASN1(cbasn1.Tag(2).ContextSpecific()) {
			return false
		}
		return readSKID(tbs, &f.skid)
	}
	return true
}

// readTBS walks a certificate's TBSCertificate up to its subject's public key, as x509's
// parseCertificate does, and sets f's encodings and validity. It returns the version (0 for
// v1) and what follows the public key.
func readTBS(der []byte, f *certFields) (version int, tbs cryptobyte.String, ok bool) {
	input := cryptobyte.String(der)
	if !input.ReadASN1Element(&input, cbasn1.SEQUENCE) || len(input) != len(der) ||
		!input.ReadASN1(&input, cbasn1.SEQUENCE) ||
		!input.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return 0, nil, false
	}
	f.raw = der
	var serial, validity, issuer, subject cryptobyte.String
	if !tbs.ReadOptionalASN1Integer(&version, cbasn1.Tag(0).Constructed().ContextSpecific(), 0) ||
		version < 0 || version > 2 ||
		!tbs.ReadASN1Element(&serial, cbasn1.INTEGER) ||
		!tbs.SkipASN1(cbasn1.SEQUENCE) || // the signature algorithm
		!tbs.ReadASN1Element(&issuer, cbasn1.SEQUENCE) ||
		!tbs.ReadASN1(&validity, cbasn1.SEQUENCE) ||
		!tbs.ReadASN1Element(&subject, cbasn1.SEQUENCE) ||
		!tbs.SkipASN1(cbasn1.SEQUENCE) { // the public key
		return 0, nil, false
	}
	f.rawSerial, f.rawIssuer, f.rawSubject = serial, issuer, subject
	ok = readTime(&validity, &f.notBefore) && readTime(&validity, &f.notAfter)
	return version, tbs, ok
}

// oidSKID is the subjectKeyIdentifier extension's OID, 2.5.29.14, as encoded.
var oidSKID = []byte{0x55, 0x1d, 0x0e}

// readSKID finds the subjectKeyIdentifier in what follows the unique IDs of a v3
// TBSCertificate, as x509's processExtensions reads it.
func readSKID(tbs cryptobyte.String, skid *[]byte) bool {
	var exts cryptobyte.String
	var present bool
	if !tbs.ReadOptionalASN1(&exts, &present, cbasn1.Tag(3).Constructed().ContextSpecific()) {
		return false
	}
	if !present {
		return true
	}
	if !exts.ReadASN1(&exts, cbasn1.SEQUENCE) {
		return false
	}
	for !exts.Empty() {
		var ext, oid, value, id cryptobyte.String
		if !exts.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) {
			return false
		}
		if string(oid) != string(oidSKID) {
			continue
		}
		if ext.PeekASN1Tag(cbasn1.BOOLEAN) || // critical, which x509 refuses: let it say so
			!ext.ReadASN1(&value, cbasn1.OCTET_STRING) || !ext.Empty() ||
			!value.ReadASN1(&id, cbasn1.OCTET_STRING) || *skid != nil {
			return false
		}
		*skid = id
	}
	return true
}

// readTime reads a UTCTime or GeneralizedTime, as x509's parseTime does.
func readTime(der *cryptobyte.String, t *time.Time) bool {
	switch {
	case der.PeekASN1Tag(cbasn1.UTCTime):
		return der.ReadASN1UTCTime(t)
	case der.PeekASN1Tag(cbasn1.GeneralizedTime):
		return der.ReadASN1GeneralizedTime(t)
	}
	return false
}

// nameCache is the names readFields read, as strings, by their encoding: the issuers of a
// CA store's certificates are few, and a name's reading and String take a third of what
// readFields allocates. Safe for concurrent use.
type nameCache struct {
	mu    stdsync.Mutex
	names map[string]string
}

// maxCachedNames bounds a nameCache: a store of many issuers reads the others every time.
const maxCachedNames = 64

// read is readName, of the cache when it holds raw.
func (c *nameCache) read(raw []byte, name *string) bool {
	c.mu.Lock()
	s, ok := c.names[string(raw)]
	c.mu.Unlock()
	if ok {
		*name = s
		return true
	}
	if !readName(raw, name) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.names == nil {
		c.names = map[string]string{}
	}
	if len(c.names) < maxCachedNames {
		c.names[string(raw)] = *name
	}
	return true
}

// readName reads a Name as x509's parseName, FillFromRDNSequence and pkix.Name's String do,
// for the string types certificates use in practice: PrintableString, UTF8String and
// IA5String. Any other (T61String, BMPString, NumericString) returns false, for crypto/x509
// to read.
func readName(raw cryptobyte.String, name *string) bool {
	if !raw.ReadASN1(&raw, cbasn1.SEQUENCE) {
		return false
	}
	var rdns pkix.RDNSequence
	for !raw.Empty() {
		var set cryptobyte.String
		if !raw.ReadASN1(&set, cbasn1.SET) {
			return false
		}
		var rdn pkix.RelativeDistinguishedNameSET
		for !set.Empty() {
			var atav, value cryptobyte.String
			var attr pkix.AttributeTypeAndValue
			var tag cbasn1.Tag
			if !set.ReadASN1(&atav, cbasn1.SEQUENCE) || !atav.ReadASN1ObjectIdentifier(&attr.Type) ||
				!atav.ReadAnyASN1(&value, &tag) {
				return false
			}
			s, ok := nameString(tag, value)
			if !ok {
				return false
			}
			attr.Value = s
			rdn = append(rdn, attr)
		}
		rdns = append(rdns, rdn)
	}
	var n pkix.Name
	n.FillFromRDNSequence(&rdns)
	*name = n.String()
	return true
}

// nameString is x509's parseASN1String for the string types readName reads.
func nameString(tag cbasn1.Tag, value []byte) (string, bool) {
	if !validValue(tag, value) {
		return "", false
	}
	return string(value), true
}

// validValue says whether value is a string of a type nameString reads, as x509 checks it.
func validValue(tag cbasn1.Tag, value []byte) bool {
	switch tag {
	case cbasn1.PrintableString:
		for _, b := range value {
			if !printable(b) {
				return false
			}
		}
	case cbasn1.UTF8String:
		return utf8.Valid(value)
	case cbasn1.IA5String:
		for _, b := range value {
			if b >= utf8.RuneSelf {
				return false
			}
		}
	default:
		return false
	}
	return true
}

// printable is x509's isPrintable: PrintableString's alphabet, with the '*' and '&' that
// certificates in the wild use.
func printable(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' ||
		strings.IndexByte(" '()+,-./:=?*&", b) >= 0
}
