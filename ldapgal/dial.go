package ldapgal

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/certgal/certgal/config"
)

// dialer is how connections are made and bound, and what they share: the
// configuration, the TLS configuration (ca_file read once per Open), the DNS
// resolver for the DCs' names, and the Kerberos client when binding with GSSAPI.
type dialer struct {
	cfg      config.Directory
	tls      *tls.Config // without ServerName: each connection sets its DC's (tlsFor)
	resolver *net.Resolver
	krb      *kerberos // nil unless sasl_mechanism is GSSAPI
}

func newDialer(cfg config.Directory) (*dialer, error) {
	tc, err := tlsConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &dialer{cfg: cfg, tls: tc, resolver: resolver(cfg)}, nil
}

// tlsConfig verifies the server against cfg.CAFile, or the system pool when empty.
func tlsConfig(cfg config.Directory) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("directory.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("directory.ca_file: %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// tlsFor is the TLS configuration for a connection to host.
func (d *dialer) tlsFor(host string) *tls.Config {
	tc := d.tls.Clone()
	tc.ServerName = host
	return tc
}

// connect connects to the DC at rawURL, secures the connection (secure) and
// binds it (authenticate). This is the one sequence every connection certgal
// opens goes through.
func (d *dialer) connect(ctx context.Context, rawURL string) (*streamConn, error) {
	ep, err := parseEndpoint(d.cfg, rawURL)
	if err != nil {
		return nil, err
	}
	if d.krb != nil && !ep.overTLS() {
		// go-ldap's GSSAPI asks for no security layer: without TLS nothing
		// would protect what follows the bind (config refuses this too).
		return nil, fmt.Errorf("GSSAPI to %s: only over ldaps:// or ldap:// with start_tls", rawURL)
	}
	nd := &net.Dialer{Timeout: d.cfg.Timeout, Resolver: d.resolver}
	raw, err := nd.DialContext(ctx, ep.network, ep.addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", rawURL, ldap.NewError(ldap.ErrorNetwork, err))
	}
	c := &streamConn{conn: raw, timeout: d.cfg.Timeout, nextID: 1}
	// The steps below take no context: closing the connection is how a
	// cancelled pass stops a blocked one.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	err = d.secure(ctx, c, ep, rawURL)
	if err == nil {
		err = d.authenticate(c, ep, rawURL)
	}
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		c.conn.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	return c, nil
}

// secure puts TLS on the connection where the URL asks for it: from the
// first byte for ldaps://, after the StartTLS operation for ldap:// with
// start_tls. Plain ldap:// (allow_plaintext) and ldapi:// stay as they are.
func (d *dialer) secure(ctx context.Context, c *streamConn, ep endpoint, rawURL string) error {
	switch {
	case ep.scheme == "ldaps":
		if err := c.upgrade(ctx, d.tlsFor(ep.host)); err != nil {
			return fmt.Errorf("TLS with %s: %w", rawURL, err)
		}
		return nil
	case ep.startTLS:
		c.use(c.conn)
		req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "")
		req.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "1.3.6.1.4.1.1466.20037", ""))
		if err := c.roundTrip(req, nil, ldap.ApplicationExtendedResponse); err != nil {
			return fmt.Errorf("StartTLS with %s: %w", rawURL, err)
		}
		if err := c.upgrade(ctx, d.tlsFor(ep.host)); err != nil {
			return fmt.Errorf("StartTLS with %s: %w", rawURL, err)
		}
		return nil
	}
	c.use(c.conn)
	return nil
}

// authenticate binds as configured: GSSAPI with the keytab, a simple bind
// with bind_dn, or SASL EXTERNAL over ldapi:// without bind_dn.
func (d *dialer) authenticate(c *streamConn, ep endpoint, rawURL string) error {
	switch {
	case d.krb != nil:
		if err := c.gssapiBind(d.krb, ep.host); err != nil {
			return fmt.Errorf("GSSAPI bind to %s as %s: %w", rawURL, d.krb.principal, err)
		}
	case d.cfg.BindDN != "":
		if err := c.simpleBind(d.cfg.BindDN, string(d.cfg.BindPassword)); err != nil {
			return fmt.Errorf("bind to %s as %q: %w", rawURL, d.cfg.BindDN, err)
		}
	case ep.scheme == "ldapi":
		if err := c.externalBind(); err != nil {
			return fmt.Errorf("bind to %s with SASL EXTERNAL: %w", rawURL, err)
		}
	}
	return nil
}

// upgrade runs the TLS handshake over the connection and reads and writes
// through TLS from then on.
func (c *streamConn) upgrade(ctx context.Context, tc *tls.Config) error {
	tlsConn := tls.Client(c.conn, tc)
	if err := handshake(ctx, tlsConn, c.timeout); err != nil {
		return err
	}
	c.use(tlsConn)
	return nil
}

// use reads and writes through conn, with a new read buffer: bytes
// buffered from the connection below belong to no one once TLS starts.
func (c *streamConn) use(conn net.Conn) {
	c.conn = conn
	c.r = bufio.NewReaderSize(conn, 64<<10)
}

// handshake runs the TLS handshake within timeout. A failed handshake is a
// network error: the next DC may well have a valid certificate.
func handshake(ctx context.Context, conn *tls.Conn, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	if err := conn.HandshakeContext(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && timeout > 0 {
			err = fmt.Errorf("no TLS handshake within the timeout of %s: %w", timeout, err)
		}
		return ldap.NewError(ldap.ErrorNetwork, err)
	}
	return nil
}

// endpoint is where a directory URL points.
type endpoint struct {
	scheme  string // ldap, ldaps or ldapi
	network string // tcp or unix
	addr    string // host:port, or the socket path
	host    string // the TLS server name and the Kerberos service's host; "" for ldapi
	// startTLS: ldap:// secured with the StartTLS operation (start_tls).
	startTLS bool
}

// overTLS reports whether the connection is secured by TLS.
func (ep endpoint) overTLS() bool { return ep.scheme == "ldaps" || ep.startTLS }

// parseEndpoint reads one directory URL and applies the one transport
// policy: ldap:// without StartTLS is refused unless allow_plaintext is set.
func parseEndpoint(cfg config.Directory, rawURL string) (endpoint, error) {
	scheme, rest, _ := strings.Cut(rawURL, "://")
	ep := endpoint{scheme: scheme}
	switch scheme {
	case "ldap", "ldaps":
		u, err := url.Parse(rawURL)
		if err != nil {
			return endpoint{}, fmt.Errorf("directory URL: %w", err)
		}
		ep.host = u.Hostname()
		port := u.Port()
		if port == "" {
			port = ldap.DefaultLdapPort
			if scheme == "ldaps" {
				port = ldap.DefaultLdapsPort
			}
		}
		ep.network, ep.addr = "tcp", net.JoinHostPort(ep.host, port)
	case "ldapi":
		// The socket path is the host part, percent-encoded (RFC 4516 style),
		// which net/url rejects.
		hostPart, _, _ := strings.Cut(rest, "/")
		p, err := url.PathUnescape(hostPart)
		if err != nil {
			return endpoint{}, fmt.Errorf("directory URL: %w", err)
		}
		if p == "" {
			p = "/var/run/slapd/ldapi"
		}
		ep.network, ep.addr = "unix", p
	default:
		return endpoint{}, fmt.Errorf("directory URL %s: unsupported scheme %q", rawURL, scheme)
	}
	if scheme == "ldap" && !cfg.StartTLS && !cfg.AllowPlaintext {
		return endpoint{}, errors.New("directory URL: ldap:// without start_tls sends the password in clear; set start_tls or allow_plaintext")
	}
	ep.startTLS = scheme == "ldap" && cfg.StartTLS
	return ep, nil
}
