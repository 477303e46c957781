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
	scheme, _, _ := strings.Cut(cfg.URL, "://")
	host := ""
	switch scheme {
	case "ldap", "ldaps":
		u, err := url.Parse(cfg.URL)
		if err != nil {
			return nil, fmt.Errorf("directory.url: %w", err)
		}
		host = u.Hostname()
	case "ldapi":
		// net/url rejects the %2F-escaped socket path; go-ldap parses it.
	default:
		return nil, fmt.Errorf("directory.url: unsupported scheme %q", scheme)
	}
	if scheme == "ldap" && !cfg.StartTLS && !cfg.AllowPlaintext {
		return nil, errors.New("directory.url: ldap:// without start_tls sends the password in clear; set start_tls or allow_plaintext")
	}
	tc, err := tlsConfig(cfg, host)
	if err != nil {
		return nil, err
	}
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
