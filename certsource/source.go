// Package certsource reads what a certificate authority has issued and revoked.
// Each CA kind (OpenSSL directory, drop folder, step-ca, CFSSL) implements Source.
package certsource

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"math/big"
	"time"
)

// Source is a CA store. Read returns everything the store knows now; an error
// means the snapshot is incomplete and nothing may be deleted because of it.
type Source interface {
	Read(ctx context.Context) (*Snapshot, error)
}

// Status is what the CA's own database says of a certificate.
type Status uint8

// The statuses a CA database records.
const (
	StatusValid Status = iota
	StatusRevoked
	StatusExpired
)

func (s Status) String() string {
	switch s {
	case StatusRevoked:
		return "revoked"
	case StatusExpired:
		return "expired"
	default:
		return "valid"
	}
}

// UnparsedSource is a Source that can hand over certificates unparsed and
// without their bodies: ReadUnparsed's snapshot is Read's, but without Cert
// and so without DER, which the source reads again (AppendDER); Hash is
// always set. The source keeps no parsed copies and no DER. For each
// certificate it has not read before, it asks inspect (possibly from several
// goroutines at once) for the serial number, which it checks against its own
// records; inspect returns an error when der is not a certificate. A consumer
// that caches its own work by hash (sync's Classifier, whose cache may outlive
// the process) thus parses each certificate at most once, or not at all when
// it knows it already, and a pass over an unchanged store holds neither a
// parsed certificate (several times the size of its DER) nor the DER of each
// one: only the few it publishes are read again. A nil inspect makes the
// source parse for itself.
type UnparsedSource interface {
	Source
	ReadUnparsed(ctx context.Context, inspect Inspect) (*Snapshot, error)
	// AppendDER appends the DER of c, a certificate of the last
	// ReadUnparsed, to dst, checked against c.Hash: a file changed since is
	// an error. A caller that reads many passes a buffer it reuses (nil for a
	// slice of the DER's own); on error dst is returned as it was.
	AppendDER(dst []byte, c *Certificate) ([]byte, error)
}

// Inspect returns the serial number of the certificate der, whose SHA-256 is
// hash, as SerialHex writes it. der is the source's buffer: whoever keeps it
// keeps a copy.
type Inspect func(der []byte, hash [32]byte) (serial string, err error)

// Certificate is one issued certificate as the CA store reports it. A pass
// holds one for each of the store's, so it is kept small: its DER is its
// Cert's, and an OpenSSL store's file is named only when asked (Origin).
type Certificate struct {
	// Cert is parsed once; Cert.Raw is the DER that gets published. It is nil
	// only in a snapshot of ReadUnparsed.
	Cert *x509.Certificate
	Hash [32]byte // SHA-256 of the DER
	// Revoked is when and why, where the CA's database says: of a revoked
	// certificate only, and shared, never changed. A pass holds one
	// Certificate for each of the store's, so the few revoked ones' data is
	// behind a pointer.
	Revoked *Revoked
	// origin is Origin, but for a certificate of the OpenSSL source, whose
	// file's name is its names' entry at name, shared with the source's
	// memory of the file rather than a string of its own.
	origin string
	names  *fileNames
	name   uint32
	Status Status
}

// DER is the certificate as issued: Cert.Raw; nil in a snapshot of
// ReadUnparsed, which leaves it in the store (AppendDER).
func (c *Certificate) DER() []byte {
	if c.Cert == nil {
		return nil
	}
	return c.Cert.Raw
}

// Origin tells an admin where the certificate came from (a file path, a
// table row).
func (c *Certificate) Origin() string {
	if c.names != nil {
		return c.names.path(c.name)
	}
	return c.origin
}

// Revoked is a CA database's record of a certificate's revocation.
type Revoked struct {
	At     time.Time
	Reason string
}

// NewCertificate wraps a parsed certificate.
func NewCertificate(c *x509.Certificate, origin string) *Certificate {
	return &Certificate{Cert: c, Hash: sha256.Sum256(c.Raw), origin: origin}
}

// Revocation is one entry of a CRL whose signature verified against a trusted
// CA, or a revoked line of a trusted CA's database whose certificate the store
// does not hold (see OpenSSL's indexRevocations).
type Revocation struct {
	Issuer    IssuerID
	Serial    *big.Int
	RevokedAt time.Time
	Reason    string
}

// Snapshot is the content of a CA store at one moment.
type Snapshot struct {
	Certificates []*Certificate
	// Revocations come from verified CRLs and a CA database's revoked entries;
	// they may name certificates the store no longer holds.
	Revocations []Revocation
	// Frozen names issuers whose revocation data cannot be trusted right now
	// (a stale CRL, say), with the reason: their certificates are neither added
	// nor removed until it is fresh again.
	Frozen map[IssuerID]string
	// Problems counts inputs that were skipped (bad line, bad file, bad CRL),
	// by reason; each was also logged.
	Problems map[string]int
}

// Problem records one skipped input.
func (s *Snapshot) Problem(reason string) {
	if s.Problems == nil {
		s.Problems = map[string]int{}
	}
	s.Problems[reason]++
}
