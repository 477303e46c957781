package certsource

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/config"
)

// cfsslQuery reads CFSSL's certdb (certdb/pg/migrations in its module): the
// columns of the first migration only, so that both schema versions work.
// serial_number is decimal text and pem a PEM certificate, both in bytea
// columns; status is "good" or "revoked"; reason is the RFC 5280 code.
const cfsslQuery = `SELECT serial_number, authority_key_identifier, status, reason, revoked_at, pem FROM certificates`

// CFSSL reads CFSSL's certdb in PostgreSQL, read-only.
type CFSSL struct {
	db    *pgx.ConnConfig
	trust *Trust
	log   logrus.FieldLogger
	cache *certCache
}

// NewCFSSL returns a source for cfg; an error is a configuration error.
func NewCFSSL(cfg config.CFSSL, trust *Trust, log logrus.FieldLogger) (*CFSSL, error) {
	switch cfg.Driver {
	case "postgres":
	case "sqlite":
		return nil, errors.New("source.cfssl.driver: sqlite is not supported yet; certgal reads CFSSL's certdb from PostgreSQL only (driver: postgres)")
	default:
		return nil, fmt.Errorf("source.cfssl.driver: %q is not one of postgres, sqlite", cfg.Driver)
	}
	db, err := parsePGConfig("cfssl", string(cfg.DSN))
	if err != nil {
		return nil, err
	}
	return &CFSSL{db: db, trust: trust, log: log, cache: newCertCache()}, nil
}

type cfsslRow struct {
	serial, aki, status string
	reason              int // -1: NULL
	revokedAt           time.Time
}

// Read implements Source. A database that cannot be read is an error; a row
// that cannot be used is skipped, counted and logged.
func (c *CFSSL) Read(ctx context.Context) (*Snapshot, error) {
	var rows []cfsslRow
	var keys []string
	var pems [][]byte
	err := pgReadOnly(ctx, c.db, func(tx pgx.Tx) error {
		q, err := tx.Query(ctx, cfsslQuery)
		if err != nil {
			return err
		}
		var serial, aki, status, p []byte
		var reason pgtype.Int4
		var revokedAt pgtype.Timestamptz
		_, err = pgx.ForEachRow(q, []any{&serial, &aki, &status, &reason, &revokedAt, &p}, func() error {
			row := cfsslRow{serial: string(serial), aki: string(aki), status: string(status), reason: -1}
			if reason.Valid {
				row.reason = int(reason.Int32)
			}
			if revokedAt.Valid {
				row.revokedAt = revokedAt.Time
			}
			rows = append(rows, row)
			keys = append(keys, row.serial+"/"+row.aki)
			pems = append(pems, p)
			return nil
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cfssl source: read certificates: %w", err)
	}

	certs, errs, err := c.cache.parseAll(ctx, keys, pems, parsePEMCertificate)
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{}
	for i, row := range rows {
		fields := logrus.Fields{"table": "certificates", "serial": row.serial, "authority_key_identifier": row.aki}
		switch {
		case errs[i] != nil:
			fields["error"] = errs[i].Error()
			c.skip(snap, ReasonBadCertificate, fields)
			continue
		case certs[i].SerialNumber.String() != row.serial:
			c.skip(snap, ReasonSerialMismatch, fields)
			continue
		}
		cert := NewCertificate(certs[i], "cfssl:certificates/"+row.serial)
		switch row.status {
		case "good":
		case "revoked":
			cert.Status = StatusRevoked
			cert.Revoked = &Revoked{At: row.revokedAt}
			if row.reason >= 0 {
				cert.Revoked.Reason = reasonName(row.reason)
			}
			if issuer, ok := c.trust.Issuer(certs[i]); ok {
				snap.Revocations = append(snap.Revocations, Revocation{Issuer: issuer, Serial: certs[i].SerialNumber, RevokedAt: cert.Revoked.At, Reason: cert.Revoked.Reason})
			}
		default:
			fields["status"] = row.status
			c.skip(snap, ReasonUnknownCertStatus, fields)
			continue
		}
		snap.Certificates = append(snap.Certificates, cert)
	}
	return snap, nil
}

func (c *CFSSL) skip(snap *Snapshot, reason string, fields logrus.Fields) {
	snap.Problem(reason)
	c.log.WithFields(fields).WithField("reason", reason).Warn("cfssl source: skipped")
}

// parsePEMCertificate reads the one PEM certificate CFSSL stores per row.
func parsePEMCertificate(data []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("pem column holds no PEM CERTIFICATE")
	}
	return x509.ParseCertificate(block.Bytes)
}
