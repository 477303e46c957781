package certsource

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/config"
)

// step-ca keeps its data as key-value tables (nkey bytea, nvalue bytea), one
// per bucket (smallstep/nosql). Seen in step-ca v0.30.2's PostgreSQL database
// after issuing and revoking:
//
//	x509_certs          nkey: decimal serial   nvalue: the certificate, DER
//	revoked_x509_certs  nkey: decimal serial   nvalue: JSON, see stepcaRevocation
const (
	stepcaCertsQuery   = `SELECT nkey, nvalue FROM x509_certs`
	stepcaRevokedQuery = `SELECT nkey, nvalue FROM revoked_x509_certs`
)

// stepcaRevocation is step-ca's db.RevokedCertificateInfo, as much as we use.
type stepcaRevocation struct {
	Serial     string
	ReasonCode int
	Reason     string
	RevokedAt  time.Time
}

// Reasons a step-ca or CFSSL database row is not used.
const (
	ReasonSerialMismatch    = "serial_mismatch"
	ReasonBadRevocation     = "bad_revocation"
	ReasonUnknownRevocation = "revocation_of_unknown_certificate"
	ReasonCRLUnavailable    = "crl_unavailable"
	ReasonUnknownCertStatus = "unknown_certificate_status"
)

// StepCA reads Smallstep step-ca's PostgreSQL database, read-only: every
// issued X.509 certificate and every revocation. When crl_url is set, step-ca's
// CRL is fetched too and verified against trust.
type StepCA struct {
	db     *pgx.ConnConfig
	crlURL string
	trust  *Trust
	log    logrus.FieldLogger
	now    func() time.Time
	client *http.Client
	cache  *certCache
}

// NewStepCA returns a source for cfg; an error is a configuration error.
func NewStepCA(cfg config.StepCA, trust *Trust, log logrus.FieldLogger) (*StepCA, error) {
	db, err := parsePGConfig("stepca", string(cfg.DSN))
	if err != nil {
		return nil, err
	}
	return &StepCA{db: db, crlURL: cfg.CRLURL, trust: trust, log: log, now: time.Now, client: newCRLClient(trust), cache: newCertCache()}, nil
}

// Read implements Source. A database that cannot be read is an error; a row
// that cannot be used is skipped, counted and logged.
func (s *StepCA) Read(ctx context.Context) (*Snapshot, error) {
	snap := &Snapshot{}
	var rows stepcaRows
	err := pgReadOnly(ctx, s.db, func(tx pgx.Tx) error {
		var err error
		rows, err = s.query(ctx, tx, snap)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("stepca source: %w", err)
	}
	certs, errs, err := s.cache.parseAll(ctx, rows.keys, rows.ders, x509.ParseCertificate)
	if err != nil {
		return nil, err
	}
	known := s.addCertificates(snap, rows, certs, errs)
	for key := range rows.revoked {
		if !known[key] {
			// step-ca revokes by serial, known or not; without the certificate the
			// issuer is unknown, and step-ca's CRL (crl_url) covers it.
			s.skip(snap, ReasonUnknownRevocation, logrus.Fields{"table": "revoked_x509_certs", "serial": key})
		}
	}
	if s.crlURL != "" {
		s.readCRL(ctx, snap)
	}
	return snap, nil
}

// stepcaRows are the rows of step-ca's tables that Read uses.
type stepcaRows struct {
	keys    []string                    // x509_certs: decimal serials
	ders    [][]byte                    // and their certificates
	revoked map[string]stepcaRevocation // revoked_x509_certs, by decimal serial
}

// query reads both tables in tx. A revocation that does not decode is
// skipped.
func (s *StepCA) query(ctx context.Context, tx pgx.Tx, snap *Snapshot) (stepcaRows, error) {
	rows := stepcaRows{revoked: map[string]stepcaRevocation{}}
	q, err := tx.Query(ctx, stepcaCertsQuery)
	if err != nil {
		return rows, fmt.Errorf("read x509_certs: %w", err)
	}
	var k, v []byte
	_, err = pgx.ForEachRow(q, []any{&k, &v}, func() error {
		rows.keys = append(rows.keys, string(k))
		rows.ders = append(rows.ders, v)
		return nil
	})
	if err != nil {
		return rows, fmt.Errorf("read x509_certs: %w", err)
	}
	q, err = tx.Query(ctx, stepcaRevokedQuery)
	if err != nil {
		return rows, fmt.Errorf("read revoked_x509_certs: %w", err)
	}
	_, err = pgx.ForEachRow(q, []any{&k, &v}, func() error {
		var r stepcaRevocation
		if err := json.Unmarshal(v, &r); err != nil {
			s.skip(snap, ReasonBadRevocation, logrus.Fields{"table": "revoked_x509_certs", "serial": string(k), "error": err.Error()})
			return nil
		}
		rows.revoked[string(k)] = r
		return nil
	})
	if err != nil {
		return rows, fmt.Errorf("read revoked_x509_certs: %w", err)
	}
	return rows, nil
}

// addCertificates puts each certificate of x509_certs that parsed and holds
// its row's serial in snap, revoked when revoked_x509_certs says so, and
// returns the serials it put there.
func (s *StepCA) addCertificates(snap *Snapshot, rows stepcaRows, certs []*x509.Certificate, errs []error) (known map[string]bool) {
	known = map[string]bool{}
	for i, key := range rows.keys {
		fields := logrus.Fields{"table": "x509_certs", "serial": key}
		switch {
		case errs[i] != nil:
			fields["error"] = errs[i].Error()
			s.skip(snap, ReasonBadCertificate, fields)
			continue
		case certs[i].SerialNumber.String() != key:
			s.skip(snap, ReasonSerialMismatch, fields)
			continue
		}
		known[key] = true
		c := NewCertificate(certs[i], "stepca:x509_certs/"+key)
		if r, ok := rows.revoked[key]; ok {
			c.Status, c.Revoked = StatusRevoked, &Revoked{At: r.RevokedAt, Reason: reasonName(r.ReasonCode)}
			// Also as a revocation, so that a directory value of this certificate
			// leaves even if the row were gone one day.
			if issuer, ok := s.trust.Issuer(certs[i]); ok {
				snap.Revocations = append(snap.Revocations, Revocation{Issuer: issuer, Serial: certs[i].SerialNumber, RevokedAt: r.RevokedAt, Reason: c.Revoked.Reason})
			}
		}
		snap.Certificates = append(snap.Certificates, c)
	}
	return known
}

// readCRL adds step-ca's CRL. The database stays the authority on revocation,
// so an unavailable or stale CRL is reported and counted but neither fails
// the pass nor freezes the issuer.
func (s *StepCA) readCRL(ctx context.Context, snap *Snapshot) {
	crl, err := fetchCRL(ctx, s.client, s.crlURL, s.trust)
	if err != nil {
		s.skip(snap, ReasonCRLUnavailable, logrus.Fields{"crl_url": redactURL(s.crlURL), "error": err.Error()})
		return
	}
	if !crl.nextUpdate.IsZero() && s.now().After(crl.nextUpdate) {
		snap.Problem(ReasonStaleCRL)
		s.log.WithFields(logrus.Fields{"crl_url": redactURL(s.crlURL), "next_update": crl.nextUpdate.UTC().Format(time.RFC3339), "reason": ReasonStaleCRL}).
			Warn("stepca source: stale CRL used")
	}
	snap.Revocations = append(snap.Revocations, crl.revs...)
}

func (s *StepCA) skip(snap *Snapshot, reason string, fields logrus.Fields) {
	snap.Problem(reason)
	s.log.WithFields(fields).WithField("reason", reason).Warn("stepca source: skipped")
}

// reasonName names an RFC 5280 CRLReason code.
func reasonName(code int) string {
	if r, ok := crlReasons[code]; ok {
		return r
	}
	return fmt.Sprintf("code %d", code)
}
