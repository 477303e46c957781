package certsource

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	stdsync "sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgConnectTimeout applies when the DSN sets no connect_timeout: a database
// that does not answer must fail the pass, not hang it.
const pgConnectTimeout = 15 * time.Second

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
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "certgal"
	}
	return cfg, nil
}

// pgReadOnly connects and runs read in one read-only REPEATABLE READ
// transaction, so that every table it reads shows the same moment.
func pgReadOnly(ctx context.Context, cfg *pgx.ConnConfig, read func(pgx.Tx) error) error {
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

	onEveryCore(ctx, len(todo), 1, func() func(int) {
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
