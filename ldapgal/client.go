package ldapgal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	gosync "sync"

	"github.com/go-ldap/ldap/v3"
	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/sync"
)

// maxIdle is how many idle connections a Client keeps: as many as a pass has
// workers on any dialect (Dialect.Workers, at most sync.DefaultWorkers), or
// each write beyond them would dial and bind.
const maxIdle = sync.DefaultWorkers

// Client is a directory. It keeps a few idle connections so the pass's
// workers each modify on their own.
type Client struct {
	cfg     config.Directory
	dialect Dialect
	filter  string
	entries entryMapper
	log     logrus.FieldLogger
	metrics *Metrics
	dialer  *dialer
	idle    chan pooled

	mu  gosync.Mutex
	dcs []string // the DCs to try, in order; replaced, never changed in place
	cur int      // index in dcs of the DC connections go to
	// dcsFresh: dcs were found by Open and no pass has started since, so
	// the first pass does not ask DNS again.
	dcsFresh bool
}

// pooled is an idle connection and the DC it is to.
type pooled struct {
	conn *streamConn
	dc   string
}

var _ sync.Directory = (*Client)(nil)

// Option configures Open.
type Option func(*Client)

// WithMetrics exports the failovers between domain controllers to m.
func WithMetrics(m *Metrics) Option { return func(c *Client) { c.metrics = m } }

// Open connects to the directory once (to the first DC that answers) to
// check the credentials and learn the dialect.
func Open(ctx context.Context, cfg config.Directory, log logrus.FieldLogger, opts ...Option) (*Client, error) {
	c := &Client{cfg: cfg, log: log, idle: make(chan pooled, maxIdle)}
	for _, o := range opts {
		o(c)
	}
	var err error
	if c.dialer, err = newDialer(cfg); err != nil {
		return nil, err
	}
	if c.dcs, err = domainControllers(ctx, cfg, c.dialer.resolver); err != nil {
		return nil, err
	}
	c.dcsFresh = true
	if cfg.SASLMechanism == "GSSAPI" {
		if c.dialer.krb, err = newKerberos(cfg, log); err != nil {
			return nil, err
		}
	}
	conn, dc, err := c.dial(ctx)
	if err != nil {
		c.dialer.krb.close()
		return nil, err
	}
	var d Dialect
	if cfg.Dialect == "" || cfg.Dialect == DialectAuto {
		d, err = detectDialect(conn)
	} else {
		d, err = DialectByName(cfg.Dialect)
	}
	if err != nil {
		conn.Close()
		c.dialer.krb.close()
		return nil, err
	}
	c.dialect, c.filter = d, cfg.UserFilter
	if c.filter == "" {
		c.filter = d.DefaultFilter
	}
	match := cfg.MatchAttributes
	if len(match) == 0 {
		match = d.DefaultMatch
	}
	c.entries = newEntryMapper(d, match)
	c.put(conn, dc)
	log.WithFields(logrus.Fields{"dc": dc, "dialect": d.Name}).Debug("directory connected")
	return c, nil
}

// Dialect is the dialect in use (detected when configured as auto).
func (c *Client) Dialect() Dialect { return c.dialect }

// Close closes the idle connections and ends the Kerberos client's renewals.
func (c *Client) Close() {
	for {
		select {
		case p := <-c.idle:
			p.conn.Close()
		default:
			c.dialer.krb.close()
			return
		}
	}
}

// dial opens a connection to the current DC or, failing that, the next.
func (c *Client) dial(ctx context.Context) (*streamConn, string, error) {
	var conn *streamConn
	dc, _, err := c.tryDCs(ctx, func(dc string) error {
		var err error
		conn, err = c.dialer.connect(ctx, dc)
		return err
	})
	return conn, dc, err
}

// tryDCs runs connect with each DC in turn, from the current one (the one
// that last answered) on and round to the first, until one connects or fails
// in a way the next DC would too (see failover). The DC that connected
// becomes the current one: the pass's writes go where it read, and a re-read
// after a conflict sees its own writes, whatever AD's replication does.
// It returns the DC and its position in the list.
func (c *Client) tryDCs(ctx context.Context, connect func(dc string) error) (string, int, error) {
	c.mu.Lock()
	dcs, start := c.dcs, c.cur
	c.mu.Unlock()
	var errs []error
	for i := range dcs {
		n := (start + i) % len(dcs)
		dc := dcs[n]
		err := connect(dc)
		if err == nil {
			c.mu.Lock()
			if n < len(c.dcs) && c.dcs[n] == dc {
				c.cur = n
			}
			c.mu.Unlock()
			return dc, n, nil
		}
		errs = append(errs, err)
		if !failover(err) || ctx.Err() != nil {
			break
		}
		if i < len(dcs)-1 {
			c.log.WithFields(logrus.Fields{"dc": dc, "error": err}).Warn("domain controller failed, trying the next")
			if c.metrics != nil {
				c.metrics.failovers.Inc()
			}
		}
	}
	if len(errs) == 1 {
		return "", 0, errs[0]
	}
	return "", 0, fmt.Errorf("no domain controller answered: %w", errors.Join(errs...))
}

// restart makes the first DC the current one again at the start of a pass,
// after finding the DCs in DNS again when directory.discover is set: a DC
// that came back, or a new one, serves again from the next pass on. The
// first pass after Open uses the DCs Open found.
func (c *Client) restart(ctx context.Context) {
	c.mu.Lock()
	fresh := c.dcsFresh
	c.dcsFresh = false
	c.mu.Unlock()
	var dcs []string
	if c.cfg.Discover != "" && !fresh {
		var err error
		if dcs, err = domainControllers(ctx, c.cfg, c.dialer.resolver); err != nil {
			c.log.WithError(err).Warn("discovering the domain controllers again failed; trying those found before")
		}
	}
	// One critical section: a get between the two would index the new list
	// with the old position.
	c.mu.Lock()
	if len(dcs) > 0 {
		c.dcs = dcs
	}
	c.cur = 0
	c.mu.Unlock()
}

// get returns an idle connection to the current DC (reused), or a new one.
func (c *Client) get(ctx context.Context) (conn *streamConn, dc string, reused bool, err error) {
	c.mu.Lock()
	current := c.dcs[c.cur]
	c.mu.Unlock()
	for {
		select {
		case p := <-c.idle:
			if p.dc == current && p.conn.usable() {
				return p.conn, p.dc, true, nil
			}
			// Closed by the server, or left from a pass that used another DC.
			p.conn.conn.Close()
		default:
			conn, dc, err = c.dial(ctx)
			return conn, dc, false, err
		}
	}
}

// put returns a healthy connection to the idle set, closing it when full.
func (c *Client) put(conn *streamConn, dc string) {
	if conn.broken {
		conn.conn.Close()
		return
	}
	select {
	case c.idle <- pooled{conn, dc}:
	default:
		conn.Close()
	}
}

// withConn runs op on a connection. An idle connection the server closed
// while it waited fails at its first request: op then runs once more, on a
// new connection. Samba does this to every connection bound by Kerberos when
// the service ticket it was bound with ends. A modify that did reach the
// server before the connection went meets, the second time, what it wrote:
// a conflict, which the pass resolves by reading the entry again.
func (c *Client) withConn(ctx context.Context, op func(*streamConn) error) error {
	conn, dc, reused, err := c.get(ctx)
	if err != nil {
		return err
	}
	err = c.run(ctx, conn, dc, op)
	if err != nil && reused && conn.broken && ctx.Err() == nil {
		c.log.WithField("error", err.Error()).Debug("idle connection closed by the server; once more on a new one")
		if conn, dc, err = c.dial(ctx); err != nil {
			return err
		}
		err = c.run(ctx, conn, dc, op)
	}
	if ctxErr := ctx.Err(); ctxErr != nil && err != nil {
		return fmt.Errorf("%w (%v)", ctxErr, err)
	}
	return err
}

// run runs op on conn, which is closed if ctx ends meanwhile, since its
// reads and writes take no context; conn goes back to the idle set after.
// A ctx that never ends (a pass's writes, which finish each entry they
// start) needs no watch, which costs an allocation or three each time.
func (c *Client) run(ctx context.Context, conn *streamConn, dc string, op func(*streamConn) error) error {
	if ctx.Done() == nil {
		err := op(conn)
		c.put(conn, dc)
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.conn.Close() })
	err := op(conn)
	if stop() {
		c.put(conn, dc)
	}
	return err
}

// Users streams every user under base_dn, one page at a time, so memory holds
// one page and not the whole directory (go-ldap's SearchWithPaging collects all).
// The search runs on a connection of its own that decodes each response in
// place (see streamConn): reading the users is most of a pass's work.
func (c *Client) Users(ctx context.Context, fn func(sync.Entry) error) error {
	c.restart(ctx)
	var conn *streamConn
	dc, pos, err := c.tryDCs(ctx, func(dc string) error {
		var err error
		conn, err = c.dialer.connect(ctx, dc)
		return err
	})
	if err != nil {
		return err
	}
	c.log.WithField("dc", dc).Info("reading the directory")
	if c.metrics != nil {
		c.metrics.dcPosition.Set(float64(pos))
	}
	stop := context.AfterFunc(ctx, func() { conn.conn.Close() })
	defer stop()
	defer conn.Close()
	var fnErr error
	var arena entryArena
	err = conn.searchAll(c.cfg.BaseDN, c.filter, c.entries.requested, c.cfg.PageSize, func(dn, attrs []byte) error {
		e, err := c.entries.fromStream(dn, attrs, &arena)
		if err != nil {
			return ldap.NewError(ldap.ErrorUnexpectedResponse, err)
		}
		fnErr = fn(e)
		return fnErr
	})
	switch {
	case err == nil:
		return nil
	case fnErr != nil:
		return fnErr
	}
	err = fmt.Errorf("search %s for %s: %w", c.cfg.BaseDN, c.filter, err)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%w (%v)", ctxErr, err)
	}
	return err
}

// User reads one entry again, after a conflicting write.
func (c *Client) User(ctx context.Context, dn string) (sync.Entry, error) {
	var out sync.Entry
	err := c.withConn(ctx, func(conn *streamConn) error {
		n := 0
		err := conn.searchBase(dn, "(objectClass=*)", c.entries.requested, func(name, attrs []byte) error {
			e, err := c.entries.fromStream(name, attrs, nil)
			if err != nil {
				return ldap.NewError(ldap.ErrorUnexpectedResponse, err)
			}
			n++
			out = detached(e)
			return nil
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", dn, err)
		}
		if n != 1 {
			return fmt.Errorf("read %s: %d entries", dn, n)
		}
		return nil
	})
	return out, err
}

// detached is e with its values copied out of the message's buffer, which
// the connection's next read reuses.
func detached(e sync.Entry) sync.Entry {
	e.Certificates = cloneValues(e.Certificates)
	e.SMIME = cloneValues(e.SMIME)
	return e
}

func cloneValues(vs [][]byte) [][]byte {
	if vs == nil {
		return nil
	}
	out := make([][]byte, len(vs))
	for i, v := range vs {
		out[i] = bytes.Clone(v)
	}
	return out
}
