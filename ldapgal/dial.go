package ldapgal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

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

// dial connects and binds: ldaps://, ldap:// with StartTLS (plain only when
// allow_plaintext), or ldapi:// with SASL EXTERNAL when no bind DN is set.
func dial(ctx context.Context, cfg config.Directory) (*ldap.Conn, error) {
	ep, err := parseEndpoint(cfg)
	if err != nil {
		return nil, err
	}
	scheme, tc := ep.scheme, ep.tls
	dialer := &net.Dialer{Timeout: cfg.Timeout}
	conn, err := ldap.DialURL(cfg.URL, ldap.DialWithDialer(dialer), ldap.DialWithTLSConfig(tc))
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", cfg.URL, err)
	}
	conn.SetTimeout(cfg.Timeout)
	// go-ldap's operations take no context: closing the connection is how a
	// cancelled pass stops a blocked call.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if scheme == "ldap" && cfg.StartTLS {
		if err := conn.StartTLS(tc); err != nil {
			conn.Close()
			return nil, fmt.Errorf("StartTLS with %s: %w", cfg.URL, err)
		}
	}
	switch {
	case cfg.BindDN != "":
		err = conn.Bind(cfg.BindDN, string(cfg.BindPassword))
	case scheme == "ldapi":
		err = conn.ExternalBind()
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("bind to %s as %q: %w", cfg.URL, cfg.BindDN, err)
	}
	if err := ctx.Err(); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// endpoint is where directory.url points, as both connections (go-ldap's and
// the streaming reader's) dial it.
type endpoint struct {
	scheme  string // ldap, ldaps or ldapi
	network string // tcp or unix
	addr    string // host:port, or the socket path
	host    string // the TLS server name; "" for ldapi
	tls     *tls.Config
}

// parseEndpoint reads directory.url and applies the one transport policy:
// ldap:// without StartTLS is refused unless allow_plaintext is set. The
// endpoint carries the TLS configuration both connections use.
func parseEndpoint(cfg config.Directory) (endpoint, error) {
	scheme, rest, _ := strings.Cut(cfg.URL, "://")
	ep := endpoint{scheme: scheme}
	switch scheme {
	case "ldap", "ldaps":
		u, err := url.Parse(cfg.URL)
		if err != nil {
			return endpoint{}, fmt.Errorf("directory.url: %w", err)
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
			return endpoint{}, fmt.Errorf("directory.url: %w", err)
		}
		if p == "" {
			p = "/var/run/slapd/ldapi"
		}
		ep.network, ep.addr = "unix", p
	default:
		return endpoint{}, fmt.Errorf("directory.url: unsupported scheme %q", scheme)
	}
	if scheme == "ldap" && !cfg.StartTLS && !cfg.AllowPlaintext {
		return endpoint{}, errors.New("directory.url: ldap:// without start_tls sends the password in clear; set start_tls or allow_plaintext")
	}
	tc, err := tlsConfig(cfg, ep.host)
	if err != nil {
		return endpoint{}, err
	}
	ep.tls = tc
	return ep, nil
}
