package sync

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	stdsync "sync"

	"github.com/certgal/certgal/certsource"
	"github.com/certgal/certgal/internal/parallel"
)

// Classifier caches Classify by the SHA-256 of the DER, so a daemon parses and
// verifies each directory value once. Entries unused for a whole pass are
// dropped. What a file cache (LoadFile) holds stays until a pass has read the
// whole store and directory without meeting it (forgetSaved). One index with
// a pass number in each entry, not one per pass (see certMap). Only a value
// parsed from the directory keeps its DER (see Cert.DER). The Certs it makes,
// their texts and issuers are kept in its certArena.
type Classifier struct {
	trust *certsource.Trust
	mu    stdsync.Mutex
	certs certMap
	arena certArena
	pass  uint32 // the current pass, from 1
	// fresh counts the certificates classified since the last SaveFile.
	fresh int
}

// NewClassifier returns an empty cache.
func NewClassifier(trust *certsource.Trust) *Classifier {
	return &Classifier{trust: trust, certs: newCertMap(0), arena: newCertArena(trust), pass: 1}
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
	return c.SerialHex(), nil
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
	f := classifyX509(x, k.trust)
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.arena.cert(f)
	if keepDER && f.id != "" {
		c.issuer = &certIssuer{id: f.id, name: f.name, der: x.Raw}
	}
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
	k.arena = newCertArena(k.trust)
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
	k.arena.forgetIssuers(&k.certs)
	k.pass++
}
