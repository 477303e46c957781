package ldapgal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/certgal/certgal/config"
)

// resolver is the DNS resolver for directory.discover and the DCs' names:
// directory.dns_server when set, else the system's (nil).
func resolver(cfg config.Directory) *net.Resolver {
	if cfg.DNSServer == "" {
		return nil
	}
	server := cfg.DNSServer
	return &net.Resolver{
		// The Go resolver: the cgo one ignores Dial.
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		},
	}
}

// domainControllers returns the URLs to try, in order: directory.url (a list
// of one), directory.urls, or the DCs that directory.discover finds in DNS.
func domainControllers(ctx context.Context, cfg config.Directory, r *net.Resolver) ([]string, error) {
	if cfg.Discover != "" {
		return discover(ctx, r, cfg.Discover, cfg.StartTLS)
	}
	if urls := cfg.URLList(); len(urls) > 0 {
		return urls, nil
	}
	return nil, errors.New("directory: no url, urls or discover configured")
}

// discover asks DNS for the SRV records _ldap._tcp.dc._msdcs.<domain>, which
// every AD domain controller registers. LookupSRV returns them ordered by
// priority, and randomised by weight within a priority (RFC 2782), which is
// the order in which they are tried.
func discover(ctx context.Context, r *net.Resolver, domain string, startTLS bool) ([]string, error) {
	if r == nil {
		r = net.DefaultResolver
	}
	name := "dc._msdcs." + strings.TrimSuffix(domain, ".")
	_, srvs, err := r.LookupSRV(ctx, "ldap", "tcp", name)
	if err != nil {
		return nil, fmt.Errorf("directory.discover: look up _ldap._tcp.%s: %w", name, err)
	}
	urls := srvURLs(srvs, startTLS)
	if len(urls) == 0 {
		return nil, fmt.Errorf("directory.discover: _ldap._tcp.%s names no domain controller", name)
	}
	return urls, nil
}

// srvURLs turns SRV records, in the order given, into URLs. The records name
// the DCs' LDAP port (389): with StartTLS certgal uses it, otherwise LDAPS on
// port 636 of the same DC, where AD serves it. A target of "." means the
// service is not offered there (RFC 2782) and is left out, as are repeats.
func srvURLs(srvs []*net.SRV, startTLS bool) []string {
	var urls []string
	seen := make(map[string]bool)
	for _, s := range srvs {
		host := strings.TrimSuffix(s.Target, ".")
		if host == "" {
			continue
		}
		u := "ldaps://" + net.JoinHostPort(host, ldap.DefaultLdapsPort)
		if startTLS {
			u = "ldap://" + net.JoinHostPort(host, strconv.Itoa(int(s.Port)))
		}
		if !seen[u] {
			seen[u] = true
			urls = append(urls, u)
		}
	}
	return urls
}

// failover reports whether err, from connecting to one DC, means the next
// should be tried: the DC could not be reached, did not answer in time, failed
// the TLS handshake, or said it is busy or unavailable. Any other answer (a
// wrong password, a refused bind) would be the same from every DC, and trying
// a wrong password on each would only lock the account out sooner.
func failover(err error) bool {
	var le *ldap.Error
	if errors.As(err, &le) {
		switch le.ResultCode {
		case ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable:
			return true
		case ldap.ErrorUnexpectedResponse, ldap.LDAPResultInvalidCredentials, ldap.LDAPResultStrongAuthRequired:
			return false
		}
	}
	var ne net.Error
	return errors.As(err, &ne)
}
