package sync

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	stdsync "sync"
	"time"

	"github.com/certgal/certgal/certsource"
	"github.com/certgal/certgal/internal/parallel"
)

// Cert is a certificate as the reconcile sees it: parsed once, its issuer
// verified once, reduced to what the rules need.
type Cert struct {
	Hash [32]byte
	// DER is kept only for an owned value parsed from the directory because
	// the CA store did not hand it over: certgal may have to remove it, and
	// the directory is where it is. The store's certificates are read again
	// when one is published (derSource), and a foreign value is known by its
	// hash alone: a pass over 100,000 users holds none of their bodies.
	DER        []byte
	Size       int // bytes of DER
	SerialHex  string
	Issuer     certsource.IssuerID // "" when no trusted CA signed it
	IssuerName string
	// Emails are the SAN rfc822Names as written, or, for a legacy
	// certificate with none, the subject's emailAddress (see mailAddresses).
	Emails []string
	// notBefore and notAfter are Unix seconds (NotBefore, NotAfter): a
	// certificate's times have no fraction of a second (RFC 5280 4.1.2.5),
	// and a time.Time takes 24 bytes. A daemon keeps 136,000 Certs at
	// 100,000 users (docs/BENCHMARKS.md, "Results, eighth round").
	notBefore, notAfter int64
	// unusable is why the certificate cannot carry encrypted mail, as an
	// index of unusableReasons (Unusable).
	unusable uint8
	// Broken says the value does not parse as a certificate. It sits beside
	// pass and unusable, in the padding of one word.
	Broken bool

	// pass is the Classifier's pass that last used the Cert (0: none yet,
	// loaded from the file cache); guarded by the Classifier's mutex.
	pass uint32
}

// NotBefore is when c becomes valid.
func (c *Cert) NotBefore() time.Time { return time.Unix(c.notBefore, 0).UTC() }

// NotAfter is when c expires.
func (c *Cert) NotAfter() time.Time { return time.Unix(c.notAfter, 0).UTC() }

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

// unusableCode is the index of reason in unusableReasons; false when it is none of them.
func unusableCode(reason string) (uint8, bool) {
	for i, r := range unusableReasons {
		if r == reason {
			return uint8(i), true
		}
	}
	return 0, false
}

// Owned reports whether a trusted CA issued c, which makes its values certgal's.
func (c *Cert) Owned() bool { return c.Issuer != "" }

// Classify reduces a parsed certificate to a Cert.
func Classify(x *x509.Certificate, trust *certsource.Trust) *Cert {
	c := &Cert{
		Hash:      sha256.Sum256(x.Raw),
		Size:      len(x.Raw),
		SerialHex: certsource.SerialHex(x.SerialNumber),
		Emails:    mailAddresses(x),
		notBefore: x.NotBefore.Unix(),
		notAfter:  x.NotAfter.Unix(),
		unusable:  unusable(x),
	}
	if id, ok := trust.Issuer(x); ok {
		c.Issuer = id
		c.DER = x.Raw
		// The issuer's DN is the trusted CA's subject, byte for byte: one
		// string for all its certificates instead of one each.
		c.IssuerName = trust.Name(id)
	} else {
		c.IssuerName = x.Issuer.String()
	}
	return c
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

// Classifier caches Classify by the SHA-256 of the DER, so a daemon parses and
// verifies each directory value once. Entries unused for a whole pass are
// dropped. What a file cache (LoadFile) holds stays until a pass has read the
// whole store and directory without meeting it (forgetSaved). One index with
// a pass number in each entry, not one per pass (see certMap). Only a value
// parsed from the directory keeps its DER (see Cert.DER).
type Classifier struct {
	trust *certsource.Trust
	mu    stdsync.Mutex
	certs certMap
	pass  uint32 // the current pass, from 1
	// fresh counts the certificates classified since the last SaveFile.
	fresh int
}

// NewClassifier returns an empty cache.
func NewClassifier(trust *certsource.Trust) *Classifier {
	return &Classifier{trust: trust, certs: newCertMap(0), pass: 1}
}

// Parsed classifies a certificate the source already parsed.
func (k *Classifier) Parsed(x *x509.Certificate, hash [32]byte) *Cert {
	if c := k.known(hash); c != nil {
		return c
	}
	return k.classify(x, false)
}

// Source classifies a certificate of the CA store, which may come unparsed
// (certsource.UnparsedSource), and without its DER, which load then reads:
// it is parsed only when not cached. An error of load is no verdict on the
// certificate (the store could not give its DER again: a file replaced or
// unreadable since it was listed): nothing is cached, and the pass fails.
func (k *Classifier) Source(c *certsource.Certificate, load func(*certsource.Certificate) ([]byte, error)) (*Cert, error) {
	if c.Cert != nil {
		return k.Parsed(c.Cert, c.Hash), nil
	}
	if x := k.known(c.Hash); x != nil {
		return x, nil
	}
	der := c.DER()
	if der == nil {
		var err error
		if der, err = load(c); err != nil {
			return nil, err
		}
	}
	x, _ := k.storeValue(der, c.Hash)
	return x, nil
}

// Inspect is certsource.Inspect for an UnparsedSource: it classifies der
// (when not cached) and returns its serial number. der is not kept.
func (k *Classifier) Inspect(der []byte, hash [32]byte) (string, error) {
	c, err := k.storeValue(der, hash)
	if err != nil {
		return "", err
	}
	return c.SerialHex, nil
}

// storeValue classifies a certificate of the store from its DER, which is
// not kept; the error says why it does not parse.
func (k *Classifier) storeValue(der []byte, h [32]byte) (*Cert, error) {
	if c := k.known(h); c != nil {
		if c.Broken {
			return c, errors.New("not a certificate")
		}
		return c, nil
	}
	x, err := x509.ParseCertificate(der)
	if err != nil {
		return k.store(&Cert{Hash: h, Broken: true}), err
	}
	return k.classify(x, false), nil
}

// SourceAll classifies the CA store's certificates on every core: verifying
// the issuer's signature on each is most of a first pass's work. load reads
// the DER a certificate comes without, when it is not cached. The error is
// the first of Source's, with how many there were.
func (k *Classifier) SourceAll(certs []*certsource.Certificate, load func(*certsource.Certificate) ([]byte, error)) ([]*Cert, error) {
	out := make([]*Cert, len(certs))
	errs := make([]error, len(certs))
	parallel.Each(context.Background(), len(certs), everyCore(len(certs)), func(i int) { out[i], errs[i] = k.Source(certs[i], load) })
	failed := 0
	var first error
	for _, err := range errs {
		if err != nil {
			failed++
			first = cmp.Or(first, err)
		}
	}
	if failed > 0 {
		return nil, fmt.Errorf("%d certificates of the CA store could not be read again, the first: %w", failed, first)
	}
	return out, nil
}

// DirectoryValue classifies a raw directory value. der may be part of a
// buffer the directory reuses or would rather free: what is kept is a copy.
func (k *Classifier) DirectoryValue(der []byte) *Cert {
	return k.directoryValue(der, sha256.Sum256(der))
}

// directoryValue is DirectoryValue for a value whose SHA-256 is h.
func (k *Classifier) directoryValue(der []byte, h [32]byte) *Cert {
	if c := k.known(h); c != nil {
		return c
	}
	x, err := x509.ParseCertificate(bytes.Clone(der))
	if err != nil {
		return k.store(&Cert{Hash: h, Broken: true})
	}
	return k.classify(x, true)
}

// known is the classification of h from this process's passes or from the
// file cache; nil when neither knows it. It counts as used by this pass.
func (k *Classifier) known(h [32]byte) *Cert {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.certs.get(h)
	if c == nil {
		return nil
	}
	c.pass = k.pass
	return c
}

// classify classifies x; the Cert keeps x.Raw only with keepDER, and only
// when owned (see Cert.DER).
func (k *Classifier) classify(x *x509.Certificate, keepDER bool) *Cert {
	c := Classify(x, k.trust)
	if !keepDER {
		c.DER = nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fresh++
	c.pass = k.pass
	k.certs.put(c)
	return c
}

func (k *Classifier) store(c *Cert) *Cert {
	k.mu.Lock()
	defer k.mu.Unlock()
	c.pass = k.pass
	k.certs.put(c)
	return c
}

// forget forgets every certificate.
func (k *Classifier) forget() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.certs = newCertMap(0)
}

// EndPass forgets what the last two passes did not use, but for what the
// file cache held that no pass met yet (see forgetSaved).
func (k *Classifier) EndPass() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.certs.each(func(c *Cert) {
		if c.pass != 0 && c.pass+1 < k.pass {
			k.certs.remove(c.Hash)
		}
	})
	k.certs.compact()
	k.pass++
}
