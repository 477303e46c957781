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

// tlsConfig verifies the server against cfg.CAFile, or the system pool when empty.
func tlsConfig(cfg config.Directory, host string) (*tls.Config, error) {
	tc := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
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

// dialer is how connections are made and bound: the configuration, the DNS
// resolver for the DCs' names, and the Kerberos client when binding with GSSAPI.
type dialer struct {
	cfg      config.Directory
	resolver *net.Resolver
	krb      *kerberos // nil unless sasl_mechanism is GSSAPI
}

// dial connects to the DC at rawURL, secures and binds the connection (see
// connect), and hands it to go-ldap for the writes.
func (d *dialer) dial(ctx context.Context, rawURL string) (*ldap.Conn, error) {
	sc, err := d.connect(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	// A bind is answered before anything else is sent: whatever the server
	// sent after it would be lost to go-ldap.
	if n := sc.r.Buffered(); n > 0 {
		sc.conn.Close()
		return nil, ldap.NewError(ldap.ErrorUnexpectedResponse, fmt.Errorf("%s sent %d unexpected bytes after the bind", rawURL, n))
	}
	// connect's last read deadline would end go-ldap's reader; go-ldap sets
	// its own timeout per operation.
	if err := sc.conn.SetDeadline(time.Time{}); err != nil {
		sc.conn.Close()
		return nil, fmt.Errorf("connect %s: %w", rawURL, ldap.NewError(ldap.ErrorNetwork, err))
	}
	_, isTLS := sc.conn.(*tls.Conn)
	conn := ldap.NewConn(sc.conn, isTLS)
	conn.Start()
	conn.SetTimeout(d.cfg.Timeout)
	return conn, nil
}

// connect connects to the DC at rawURL and secures and binds the connection:
// ldaps://, ldap:// with StartTLS (plain only when allow_plaintext), or
// ldapi://; then a simple bind with bind_dn, a GSSAPI bind with the keytab,
// or SASL EXTERNAL over ldapi:// without bind_dn. This is the one sequence
// every connection certgal opens goes through: the streaming reader uses the
// streamConn it returns, the writes go-ldap's connection built on it (dial).
func (d *dialer) connect(ctx context.Context, rawURL string) (*streamConn, error) {
	cfg := d.cfg
	ep, err := parseEndpoint(cfg, rawURL)
	if err != nil {
		return nil, err
	}
	scheme, tc := ep.scheme, ep.tls
	if d.krb != nil && scheme != "ldaps" && !(scheme == "ldap" && cfg.StartTLS) {
		// go-ldap's GSSAPI asks for no security layer: without TLS nothing
		// would protect what follows the bind (config refuses this too).
		return nil, fmt.Errorf("GSSAPI to %s: only over ldaps:// or ldap:// with start_tls", rawURL)
	}
	nd := &net.Dialer{Timeout: cfg.Timeout, Resolver: d.resolver}
	raw, err := nd.DialContext(ctx, ep.network, ep.addr)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", rawURL, ldap.NewError(ldap.ErrorNetwork, err))
	}
	c := &streamConn{conn: raw, timeout: cfg.Timeout, nextID: 1}
	// The steps below take no context: closing the connection is how a
	// cancelled pass stops a blocked one.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()
	fail := func(err error) (*streamConn, error) {
		c.conn.Close()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	if scheme == "ldaps" {
		tlsConn := tls.Client(raw, tc)
		if err := handshake(ctx, tlsConn, cfg.Timeout); err != nil {
			return fail(fmt.Errorf("TLS with %s: %w", rawURL, err))
		}
		c.conn = tlsConn
	}
	c.r = bufio.NewReaderSize(c.conn, 64<<10)
	if scheme == "ldap" && cfg.StartTLS {
		req := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedRequest, nil, "")
		req.AppendChild(ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, "1.3.6.1.4.1.1466.20037", ""))
		if err := c.roundTrip(req, nil, ldap.ApplicationExtendedResponse); err != nil {
			return fail(fmt.Errorf("StartTLS with %s: %w", rawURL, err))
		}
		tlsConn := tls.Client(raw, tc)
		if err := handshake(ctx, tlsConn, cfg.Timeout); err != nil {
			return fail(fmt.Errorf("StartTLS with %s: %w", rawURL, err))
		}
		c.conn = tlsConn
		c.r = bufio.NewReaderSize(c.conn, 64<<10)
	}
	switch {
	case d.krb != nil:
		if err := c.gssapiBind(d.krb, ep.host); err != nil {
			return fail(fmt.Errorf("GSSAPI bind to %s as %s: %w", rawURL, d.krb.principal, err))
		}
	case cfg.BindDN != "":
		auth := ber.NewString(ber.ClassContext, ber.TypePrimitive, 0, string(cfg.BindPassword), "")
		if err := c.bind(cfg.BindDN, auth); err != nil {
			return fail(fmt.Errorf("bind to %s as %q: %w", rawURL, cfg.BindDN, err))
		}
	case scheme == "ldapi":
		auth := ber.Encode(ber.ClassContext, ber.TypeConstructed, 3, nil, "")
		auth.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "EXTERNAL", ""))
		// An empty authorization identity; without it slapd answers 14 (in progress).
		auth.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
		if err := c.bind("", auth); err != nil {
			return fail(fmt.Errorf("bind to %s with SASL EXTERNAL: %w", rawURL, err))
		}
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	return c, nil
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
	tls     *tls.Config
}

// parseEndpoint reads one directory URL and applies the one transport
// policy: ldap:// without StartTLS is refused unless allow_plaintext is set.
// The endpoint carries the TLS configuration.
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
	tc, err := tlsConfig(cfg, ep.host)
	if err != nil {
		return endpoint{}, err
	}
	ep.tls = tc
	return ep, nil
}
