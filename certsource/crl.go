package certsource

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"
)

// ErrStaleCRL marks a CRL past its nextUpdate. Its revocations are still used:
// a revocation is never undone, only the list's completeness is in doubt.
var ErrStaleCRL = errors.New("CRL is past its nextUpdate")

// crlReasons are the RFC 5280 CRLReason codes.
var crlReasons = map[int]string{
	0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged",
	4: "superseded", 5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL",
	9: "privilegeWithdrawn", 10: "aACompromise",
}

// ParseCRL reads a PEM or DER CRL and checks its signature against trust.
// A stale CRL returns its revocations together with ErrStaleCRL.
func ParseCRL(data []byte, trust *Trust, now time.Time) ([]Revocation, error) {
	revs, next, err := parseCRL(data, trust)
	if err != nil {
		return nil, err
	}
	return revs, staleCRL(next, now)
}

// parseCRL is ParseCRL but for staleness: it returns the nextUpdate.
func parseCRL(data []byte, trust *Trust) ([]Revocation, time.Time, error) {
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "X509 CRL" {
			return nil, time.Time{}, fmt.Errorf("PEM block %q is not an X509 CRL", block.Type)
		}
		data = block.Bytes
	}
	crl, err := x509.ParseRevocationList(data)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("parse CRL: %w", err)
	}
	_, revs, err := verifyCRL(crl, trust)
	if err != nil {
		return nil, time.Time{}, err
	}
	return revs, crl.NextUpdate, nil
}

// staleCRL is ErrStaleCRL, with the date, when now is past nextUpdate (zero: none).
func staleCRL(nextUpdate, now time.Time) error {
	if !nextUpdate.IsZero() && now.After(nextUpdate) {
		return fmt.Errorf("%w (nextUpdate %s)", ErrStaleCRL, nextUpdate.UTC().Format(time.RFC3339))
	}
	return nil
}

// verifyCRL checks a parsed CRL's signature against trust and returns its
// issuer and revocations; it does not look at nextUpdate.
func verifyCRL(crl *x509.RevocationList, trust *Trust) (IssuerID, []Revocation, error) {
	issuer, ok := trust.CRLIssuer(crl)
	if !ok {
		return "", nil, fmt.Errorf("CRL issued by %q does not verify against trust.ca_files", crl.Issuer.String())
	}
	revs := make([]Revocation, 0, len(crl.RevokedCertificateEntries))
	for _, e := range crl.RevokedCertificateEntries {
		// removeFromCRL only appears in delta CRLs and means the hold is lifted.
		if e.ReasonCode == 8 {
			continue
		}
		revs = append(revs, Revocation{Issuer: issuer, Serial: e.SerialNumber, RevokedAt: e.RevocationTime, Reason: crlReasons[e.ReasonCode]})
	}
	return issuer, revs, nil
}
