package certsource

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	stdsync "sync"
	"time"

	"github.com/certgal/certgal/internal/parallel"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// pgConnectTimeout applies when the DSN sets no connect_timeout: a database
// that does not answer must fail the pass, not hang it.
const pgConnectTimeout = 15 * time.Second

// Server-side bounds on a read, sent at connect time unless the DSN sets them
// (postgres://…?lock_timeout=30s). A CA upgrade that migrates its tables holds
// an ACCESS EXCLUSIVE lock: without lock_timeout the pass would wait for it,
// with the daemon's next passes queued behind. The statement timeout is for a
// read that is slow for any other reason: far above what reading a large
// store takes (docs/BENCHMARKS.md, "Figures moved out of code comments (certsource)").
var pgTimeouts = []struct{ param, value string }{
	{"lock_timeout", "10s"},
	{"statement_timeout", "5min"},
}

// parsePGConfig reads a PostgreSQL DSN (URL or key=value). The parser's own
// message may quote the DSN, password and all, so it is not passed on.
func parsePGConfig(kind, dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("source.%s.dsn_file: the DSN is not a PostgreSQL connection string (postgres://USER:PASSWORD@HOST:PORT/DB or key=value pairs)", kind)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	// Read-only even if the role was granted more than SELECT by mistake.
	cfg.RuntimeParams["default_transaction_read_only"] = "on"
	for _, t := range pgTimeouts {
		if cfg.RuntimeParams[t.param] == "" {
			cfg.RuntimeParams[t.param] = t.value
		}
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "certgal"
	}
	return cfg, nil
}

// pgReadOnly connects and runs read in one read-only REPEATABLE READ
// transaction, so that every table it reads shows the same moment. ctx (the
// pass's) and the server's timeouts bound it; a timeout says which one.
func pgReadOnly(ctx context.Context, cfg *pgx.ConnConfig, read func(pgx.Tx) error) error {
	return pgWaitError(cfg, pgRead(ctx, cfg, read))
}

func pgRead(ctx context.Context, cfg *pgx.ConnConfig, read func(pgx.Tx) error) error {
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn.Close(closeCtx)
	}()
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("begin read-only transaction: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read-only: nothing to keep or lose
	return read(tx)
}

// pgWaitError says which bound ended a read that timed out on the server.
func pgWaitError(cfg *pgx.ConnConfig, err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch pe.Code {
	case "55P03": // lock_not_available
		return fmt.Errorf("%w: waited longer than lock_timeout=%s for a lock another session holds on the table (a CA upgrade migrating its database?); nothing is written and the next pass tries again",
			err, cfg.RuntimeParams["lock_timeout"])
	case "57014": // query_canceled: statement_timeout, or a cancel by an administrator
		return fmt.Errorf("%w: the read took longer than statement_timeout=%s (or was cancelled on the server); nothing is written and the next pass tries again",
			err, cfg.RuntimeParams["statement_timeout"])
	}
	return err
}

// certCache keeps parsed certificates of a database source between passes,
// by row key, so that a daemon parses each certificate once. An entry is used
// only while the stored bytes are the same.
type certCache struct {
	mu stdsync.Mutex
	m  map[string]cachedCert
}

type cachedCert struct {
	sum  [32]byte // SHA-256 of the stored bytes (DER or PEM)
	cert *x509.Certificate
}

func newCertCache() *certCache { return &certCache{m: map[string]cachedCert{}} }

// parseAll returns the certificate of each stored value, parsing on every core
// only what the cache does not hold, and forgets keys no longer present.
func (c *certCache) parseAll(ctx context.Context, keys []string, values [][]byte, parse func([]byte) (*x509.Certificate, error)) ([]*x509.Certificate, []error, error) {
	certs := make([]*x509.Certificate, len(keys))
	errs := make([]error, len(keys))
	sums := make([][32]byte, len(keys))
	var todo []int
	c.mu.Lock()
	live := make(map[string]bool, len(keys))
	for i, k := range keys {
		live[k] = true
		sums[i] = sha256.Sum256(values[i])
		if e, ok := c.m[k]; ok && e.sum == sums[i] {
			certs[i] = e.cert
			continue
		}
		todo = append(todo, i)
	}
	for k := range c.m {
		if !live[k] {
			delete(c.m, k)
		}
	}
	c.mu.Unlock()

	parallel.For(ctx, len(todo), parallel.Options{}, func() func(int) {
		return func(k int) {
			i := todo[k]
			certs[i], errs[i] = parse(values[i])
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	c.mu.Lock()
	for _, i := range todo {
		if errs[i] == nil {
			c.m[keys[i]] = cachedCert{sum: sums[i], cert: certs[i]}
		}
	}
	c.mu.Unlock()
	return certs, errs, nil
}
