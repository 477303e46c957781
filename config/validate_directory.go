package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

func (v *validator) directory(d *Directory) {
	v.directoryURLs(d)
	v.oneOf("directory.dialect", d.Dialect, "auto", "ad", "openldap")
	v.dn("directory.base_dn", d.BaseDN, true)
	v.sasl(d)
	v.bindCredentials(d)
	if d.CAFile != "" {
		v.file("directory.ca_file", d.CAFile)
	}
	if d.Timeout <= 0 {
		v.add("directory.timeout", "must be greater than 0, not %s", formatDuration(d.Timeout))
	}
	if d.PageSize < 1 || d.PageSize > 100000 {
		v.add("directory.page_size", "must be between 1 and 100000, not %d", d.PageSize)
	}
	v.userFilter(d.UserFilter)
	v.matchAttributes(d.MatchAttributes)
}

// bindCredentials checks bind_dn and bind_password_file against the
// mechanism: GSSAPI and EXTERNAL use neither, so each one set is the one
// error on its key; a simple bind needs both or neither (anonymous).
func (v *validator) bindCredentials(d *Directory) {
	switch d.SASLMechanism {
	case "GSSAPI":
		// The keytab's principal binds; a bind DN or password would be ignored.
		if d.BindDN != "" {
			v.add("directory.bind_dn", "not used with sasl_mechanism GSSAPI: principal binds")
		}
		if d.BindPasswordFile != "" {
			v.add("directory.bind_password_file", "not used with sasl_mechanism GSSAPI: keytab_file holds the keys")
		}
	case "EXTERNAL":
		if d.BindDN != "" {
			v.add("directory.bind_dn", "not used with sasl_mechanism EXTERNAL: the process's user binds over ldapi://")
		}
		if d.BindPasswordFile != "" {
			v.add("directory.bind_password_file", "not used with sasl_mechanism EXTERNAL: the process's user binds, with no password")
		}
	default: // a simple bind, or a mechanism sasl reports as unknown
		v.simpleBind(d)
	}
}

// simpleBind checks the keys of a simple bind: bind_dn and
// bind_password_file together, or neither.
func (v *validator) simpleBind(d *Directory) {
	switch {
	case d.BindDN != "" && d.BindPasswordFile == "":
		v.dn("directory.bind_dn", d.BindDN, false)
		v.add("directory.bind_password_file", "required when directory.bind_dn is set")
	case d.BindDN == "" && d.BindPasswordFile != "":
		v.add("directory.bind_dn", "required when directory.bind_password_file is set (without it certgal binds anonymously)")
	default:
		v.dn("directory.bind_dn", d.BindDN, false)
	}
}

func (v *validator) userFilter(filter string) {
	if filter == "" {
		return
	}
	if _, err := ldap.CompileFilter(filter); err != nil {
		// ldap.Error's text repeats a result code that no server sent.
		var le *ldap.Error
		if errors.As(err, &le) && le.Err != nil {
			err = le.Err
		}
		v.add("directory.user_filter", "cannot compile %q: %v", filter, err)
	}
}

func (v *validator) matchAttributes(attrs []string) {
	seen := make(map[string]int, len(attrs))
	for i, a := range attrs {
		key := fmt.Sprintf("directory.match_attributes[%d]", i)
		if !attributeName(a) {
			v.add(key, "%q is not an attribute name (a letter, then letters, digits or hyphens; no ;options)", a)
			continue
		}
		// Attribute names are case-insensitive in LDAP.
		if first, dup := seen[strings.ToLower(a)]; dup {
			v.add(key, "%q is already listed as directory.match_attributes[%d]", a, first)
			continue
		}
		seen[strings.ToLower(a)] = i
	}
}

// directoryURLs checks where the directory is: url, urls or discover, exactly one.
func (v *validator) directoryURLs(d *Directory) {
	switch {
	case d.URL != "" && len(d.URLs) > 0:
		v.add("directory.urls", "set directory.url or directory.urls, not both (directory.url is a list of one)")
		return
	case d.Discover != "" && (d.URL != "" || len(d.URLs) > 0):
		v.add("directory.discover", "set directory.discover or directory.url(s), not both")
		return
	case d.Discover != "":
		v.domain("directory.discover", d.Discover)
	case d.URL != "":
		v.startTLS(d, v.directoryURL("directory.url", d.URL, d))
	case len(d.URLs) > 0:
		var schemes []string
		for i, u := range d.URLs {
			schemes = append(schemes, v.directoryURL(fmt.Sprintf("directory.urls[%d]", i), u, d))
		}
		v.startTLS(d, schemes...)
	default:
		v.add("directory.url", "required")
	}
	if d.DNSServer != "" {
		host, port, err := net.SplitHostPort(d.DNSServer)
		if n, perr := strconv.ParseUint(port, 10, 16); err != nil || host == "" || perr != nil || n == 0 {
			v.add("directory.dns_server", "%q is not host:port (such as 10.0.0.53:53)", d.DNSServer)
		}
	}
}

// directoryURL checks one URL and returns its scheme ("" when it does not parse).
func (v *validator) directoryURL(key, raw string, d *Directory) string {
	if raw == "" {
		v.add(key, "empty URL")
		return ""
	}
	u, err := parseLDAPURL(raw)
	if err != nil {
		v.add(key, "%v", err)
		return ""
	}
	switch u.Scheme {
	case "ldaps":
		if u.Host == "" {
			v.add(key, "no host in %q", raw)
		}
	case "ldap":
		if u.Host == "" {
			v.add(key, "no host in %q", raw)
		}
		if !d.StartTLS && !d.AllowPlaintext {
			v.add(key, "ldap:// without StartTLS sends the bind password and every certificate in clear text; use ldaps://, start_tls: true, or allow_plaintext: true")
		}
	case "ldapi":
		if u.Host != "" && !strings.HasPrefix(u.Host, "/") {
			v.add(key, "ldapi:// takes an empty host or a %%2F-escaped socket path such as ldapi://%%2Fvar%%2Frun%%2Fslapd%%2Fldapi, not %q", u.Host)
		}
	default:
		v.add(key, "unsupported scheme %q: use ldaps://, ldap:// or ldapi://", u.Scheme)
	}
	return u.Scheme
}

// startTLS checks start_tls once against the URLs' schemes: one error, not one per URL.
func (v *validator) startTLS(d *Directory, schemes ...string) {
	for _, s := range schemes {
		if d.StartTLS && (s == "ldaps" || s == "ldapi") {
			v.add("directory.start_tls", "only applies to ldap:// URLs; %s:// needs no StartTLS", s)
			return
		}
	}
}

// domain checks a DNS domain name: dot-separated labels of letters, digits and hyphens.
func (v *validator) domain(key, name string) {
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	for _, l := range labels {
		ok := l != "" && len(l) <= 63 && l[0] != '-' && l[len(l)-1] != '-'
		for i := 0; ok && i < len(l); i++ {
			ok = isLetter(l[i]) || l[i] >= '0' && l[i] <= '9' || l[i] == '-'
		}
		if !ok {
			v.add(key, "%q is not a DNS domain name (such as corp.example.com)", name)
			return
		}
	}
}

// sasl checks sasl_mechanism against the URLs, and the keys only GSSAPI uses.
// bind_dn and bind_password_file are bindCredentials' to check.
func (v *validator) sasl(d *Directory) {
	schemes := make(map[string]bool)
	for _, u := range d.URLList() {
		scheme, _, _ := strings.Cut(u, "://")
		schemes[scheme] = true
	}
	switch d.SASLMechanism {
	case "":
	case "EXTERNAL":
		if d.Discover != "" || schemes["ldap"] || schemes["ldaps"] {
			v.add("directory.sasl_mechanism", "EXTERNAL binds as the process's user over ldapi:// only")
		}
	case "GSSAPI":
		v.gssapi(d, schemes)
		return
	default:
		v.add("directory.sasl_mechanism", "must be empty (simple bind), EXTERNAL or GSSAPI, not %q", d.SASLMechanism)
	}
	for _, kv := range [][2]string{{"directory.keytab_file", d.KeytabFile}, {"directory.principal", d.Principal}, {"directory.krb5_conf_file", d.KRB5ConfFile}} {
		if kv[1] != "" {
			v.add(kv[0], "only used with sasl_mechanism GSSAPI")
		}
	}
}

// gssapi checks a Kerberos bind: over TLS, with a keytab, a principal and krb5.conf.
func (v *validator) gssapi(d *Directory, schemes map[string]bool) {
	switch {
	case schemes["ldapi"]:
		v.add("directory.sasl_mechanism", "GSSAPI over ldapi:// is not supported: use ldaps:// or ldap:// with start_tls")
	case schemes["ldap"] && !d.StartTLS:
		// go-ldap's GSSAPI bind asks for no security layer, so nothing would
		// protect the traffic; a DC would refuse the bind anyway.
		v.add("directory.sasl_mechanism", "GSSAPI over ldap:// without start_tls is refused: certgal cannot negotiate "+
			"the GSSAPI security layer (sign and seal), so directory data would travel in clear text; use ldaps:// or start_tls: true")
	}
	if v.required("directory.keytab_file", d.KeytabFile, " with sasl_mechanism GSSAPI") {
		v.file("directory.keytab_file", d.KeytabFile)
	}
	if name, realm, hasRealm := strings.Cut(d.Principal, "@"); d.Principal == "" {
		v.add("directory.principal", "required with sasl_mechanism GSSAPI: name@REALM, such as certgal@CORP.EXAMPLE.COM")
	} else if name == "" || hasRealm && realm == "" || strings.Contains(realm, "@") {
		v.add("directory.principal", "must be name@REALM, such as certgal@CORP.EXAMPLE.COM, not %q", d.Principal)
	}
	v.file("directory.krb5_conf_file", d.KRB5Conf())
}

// parseLDAPURL parses the URL the way ldap.DialURL does: net/url rejects the
// %2F-escaped socket path that ldapi:// puts in the host.
func parseLDAPURL(raw string) (*url.URL, error) {
	rest, ok := strings.CutPrefix(raw, "ldapi://")
	if !ok {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("cannot parse %q: %v", raw, unwrapURLError(err))
		}
		return u, nil
	}
	host, _, _ := strings.Cut(rest, "/")
	decoded, err := url.PathUnescape(host)
	if err != nil {
		return nil, fmt.Errorf("cannot parse %q: bad escape in socket path %q", raw, host)
	}
	return &url.URL{Scheme: "ldapi", Host: decoded}, nil
}

// unwrapURLError drops url.Error's own quoting of the URL, which we print anyway.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func (v *validator) dn(key, dn string, required bool) {
	if dn == "" {
		if required {
			v.add(key, "required")
		}
		return
	}
	if _, err := ldap.ParseDN(dn); err != nil {
		v.add(key, "cannot parse %q as a DN: %v", dn, err)
	}
}

// attributeName reports whether s is an RFC 4512 descriptor. Options such as
// ";binary" are refused: certgal adds them itself where a dialect needs them.
func attributeName(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLetter(s[i]) && !(s[i] >= '0' && s[i] <= '9') && s[i] != '-' {
			return false
		}
	}
	return true
}

func isLetter(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}
