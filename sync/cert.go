package sync

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"runtime"
	"strings"
	stdsync "sync"
	"time"

	"github.com/certgal/certgal/certsource"
)

// Cert is a certificate as the reconcile sees it: parsed once, its issuer
// verified once, reduced to what the rules need.
type Cert struct {
	Hash [32]byte
	// DER is kept for certificates certgal may publish or delete (owned ones);
	// a foreign directory value is known by its hash alone.
	DER        []byte
	Broken     bool // the value does not parse as a certificate
	SerialHex  string
	Issuer     certsource.IssuerID // "" when no trusted CA signed it
	IssuerName string
	Subject    string
	Emails     []string // SAN rfc822Name, as written
	NotBefore  time.Time
	NotAfter   time.Time
	// Unusable says why the certificate cannot carry encrypted mail; "" when it can.
	Unusable string
}

// Owned reports whether a trusted CA issued c, which makes its values certgal's.
func (c *Cert) Owned() bool { return c.Issuer != "" }

type issuerSerial struct {
	issuer certsource.IssuerID
	serial string
}

func (c *Cert) key() issuerSerial { return issuerSerial{c.Issuer, c.SerialHex} }

// Classify reduces a parsed certificate to a Cert.
func Classify(x *x509.Certificate, trust *certsource.Trust) *Cert {
	c := &Cert{
		Hash:      sha256.Sum256(x.Raw),
		SerialHex: strings.ToUpper(x.SerialNumber.Text(16)),
		Subject:   x.Subject.String(),
		Emails:    x.EmailAddresses,
		NotBefore: x.NotBefore,
		NotAfter:  x.NotAfter,
		Unusable:  unusable(x),
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

// unusable checks the extended key usage and key usage an S/MIME recipient
// certificate needs to be encrypted to.
func unusable(x *x509.Certificate) string {
	if len(x.ExtKeyUsage) > 0 || len(x.UnknownExtKeyUsage) > 0 {
		ok := false
		for _, u := range x.ExtKeyUsage {
			ok = ok || u == x509.ExtKeyUsageEmailProtection
		}
		if !ok {
			return "no_email_protection"
		}
	}
	// An absent keyUsage extension permits every use (RFC 5280 4.2.1.3).
	switch x.PublicKey.(type) {
	case *rsa.PublicKey:
		if x.KeyUsage != 0 && x.KeyUsage&x509.KeyUsageKeyEncipherment == 0 {
			return "no_key_encipherment"
		}
	case *ecdsa.PublicKey:
		if x.KeyUsage != 0 && x.KeyUsage&x509.KeyUsageKeyAgreement == 0 {
			return "no_key_agreement"
		}
	default:
		return "key_cannot_encrypt"
	}
	return ""
}

// Classifier caches Classify by the SHA-256 of the DER, so a daemon parses and
// verifies each directory value once. Entries unused for a whole pass are
// dropped. What a file cache (LoadFile) holds is in saved, without DER, until
// a pass meets the certificate again.
type Classifier struct {
	trust *certsource.Trust
	mu    stdsync.Mutex
	cur   map[[32]byte]*Cert
	prev  map[[32]byte]*Cert
	saved map[[32]byte]*Cert
	// fresh counts the certificates classified since the last SaveFile.
	fresh int
}

// NewClassifier returns an empty cache.
func NewClassifier(trust *certsource.Trust) *Classifier {
	return &Classifier{trust: trust, cur: map[[32]byte]*Cert{}}
}

// Parsed classifies a certificate the source already parsed.
func (k *Classifier) Parsed(x *x509.Certificate, hash [32]byte) *Cert {
	if c := k.known(hash, x.Raw, false); c != nil {
		return c
	}
	return k.classify(x)
}

// Source classifies a certificate of the CA store, which may come unparsed
// (certsource.UnparsedSource): it is parsed only when not cached.
func (k *Classifier) Source(c *certsource.Certificate) *Cert {
	if c.Cert != nil {
		return k.Parsed(c.Cert, c.Hash)
	}
	x, _ := k.inspect(c.DER, c.Hash)
	return x
}

// Inspect is certsource.Inspect for an UnparsedSource: it classifies der
// (when not cached) and returns its serial number, and the DER the Cert
// holds, which the source then keeps rather than a second copy.
func (k *Classifier) Inspect(der []byte, hash [32]byte) (*big.Int, []byte, error) {
	c, err := k.inspect(der, hash)
	if err != nil {
		return nil, nil, err
	}
	serial, ok := new(big.Int).SetString(c.SerialHex, 16)
	if !ok {
		return nil, nil, fmt.Errorf("serial %q", c.SerialHex)
	}
	if c.DER != nil {
		der = c.DER
	}
	return serial, der, nil
}

// inspect classifies a certificate of the store from its DER, which is kept
// as it is; the error says why it does not parse.
func (k *Classifier) inspect(der []byte, h [32]byte) (*Cert, error) {
	if c := k.known(h, der, false); c != nil {
		if c.Broken {
			return c, errors.New("not a certificate")
		}
		return c, nil
	}
	x, err := x509.ParseCertificate(der)
	if err != nil {
		return k.store(&Cert{Hash: h, Broken: true}), err
	}
	return k.classify(x), nil
}

// SourceAll classifies the CA store's certificates on every core: verifying
// the issuer's signature on each is most of a first pass's work.
func (k *Classifier) SourceAll(certs []*certsource.Certificate) []*Cert {
	out := make([]*Cert, len(certs))
	const batch = 256
	next := make(chan int, runtime.GOMAXPROCS(0))
	var wg stdsync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for start := range next {
				for i := start; i < min(start+batch, len(certs)); i++ {
					out[i] = k.Source(certs[i])
				}
			}
		}()
	}
	for start := 0; start < len(certs); start += batch {
		next <- start
	}
	close(next)
	wg.Wait()
	return out
}

// DER classifies a raw directory value. der may be part of a buffer the
// directory reuses or would rather free: what is kept is a copy.
func (k *Classifier) DER(der []byte) *Cert {
	return k.der(der, sha256.Sum256(der))
}

// der is DER for a value whose SHA-256 is h.
func (k *Classifier) der(der []byte, h [32]byte) *Cert {
	if c := k.cached(der, h); c != nil {
		return c
	}
	x, err := x509.ParseCertificate(bytes.Clone(der))
	if err != nil {
		return k.store(&Cert{Hash: h, Broken: true})
	}
	return k.classify(x)
}

// cached is the classification of a directory value without parsing it: from
// this process's passes or from the file cache; nil when neither knows it.
func (k *Classifier) cached(der []byte, h [32]byte) *Cert {
	return k.known(h, der, true)
}

// lookupLocked finds h in this process's passes; k.mu is held.
func (k *Classifier) lookupLocked(h [32]byte) *Cert {
	if c, ok := k.cur[h]; ok {
		return c
	}
	if c, ok := k.prev[h]; ok {
		k.cur[h] = c
		return c
	}
	return nil
}

// known is the classification of h from this process's passes or else from
// the file cache, whose entry then takes der (or a copy of it) as its DER,
// which only owned certificates keep; nil when neither knows h. One lock for
// both: two goroutines asking for one certificate must not miss it in between.
func (k *Classifier) known(h [32]byte, der []byte, copyDER bool) *Cert {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c := k.lookupLocked(h); c != nil {
		return c
	}
	c, ok := k.saved[h]
	if !ok {
		return nil
	}
	delete(k.saved, h)
	if c.Owned() {
		if copyDER {
			der = bytes.Clone(der)
		}
		c.DER = der
	}
	k.cur[h] = c
	return c
}

func (k *Classifier) classify(x *x509.Certificate) *Cert {
	c := Classify(x, k.trust)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fresh++
	k.cur[c.Hash] = c
	return c
}

func (k *Classifier) store(c *Cert) *Cert {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.cur[c.Hash] = c
	return c
}

// EndPass forgets what the last two passes did not use.
func (k *Classifier) EndPass() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.prev, k.cur = k.cur, make(map[[32]byte]*Cert, len(k.cur))
}
