package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/robfig/cron/v3"
	"github.com/sirupsen/logrus"
)

// validate checks every rule independently and returns every violation, in
// field order.
func validate(c *Config) Errors {
	var v validator
	v.schedule(c.Schedule)
	v.source(&c.Source)
	v.trust(&c.Trust)
	v.directory(&c.Dir)
	v.policy(&c.Policy)
	v.lookup(&c.Lookup)
	v.listen("metrics.listen", c.Metrics.Listen)
	if c.Metrics.TriggerMinInterval < time.Second {
		v.add("metrics.trigger_min_interval", "must be at least 1s, not %s", formatDuration(c.Metrics.TriggerMinInterval))
	}
	v.log(&c.Log)
	return v.errs
}

type validator struct {
	errs Errors
}

func (v *validator) add(key, format string, args ...any) {
	v.errs.add(key, fmt.Sprintf(format, args...))
}

// oneOf reports val unless it is one of allowed.
func (v *validator) oneOf(key, val string, allowed ...string) {
	if slices.Contains(allowed, val) {
		return
	}
	if val == "" {
		v.add(key, "required: one of %s", strings.Join(allowed, ", "))
		return
	}
	v.add(key, "must be one of %s, not %q", strings.Join(allowed, ", "), val)
}

func (v *validator) required(key, val, why string) bool {
	if val == "" {
		v.add(key, "required%s", why)
		return false
	}
	return true
}

// file reports path unless it names a regular file this process can open.
// Only opening is checked; what the file holds is its reader's business.
func (v *validator) file(key, path string) {
	if path == "" {
		v.add(key, "empty path")
		return
	}
	if err := openable(path); err != nil {
		v.add(key, "%v", err)
	}
}

func openable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory, not a file", path)
	}
	return nil
}

func (v *validator) schedule(spec string) {
	p := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	if _, err := p.Parse(spec); err != nil {
		v.add("schedule", "cannot parse %q: %v", spec, err)
	}
}

// source checks only the section of the selected kind: the others are
// ignored at run time, so they may hold anything.
func (v *validator) source(s *Source) {
	v.oneOf("source.kind", s.Kind, "openssl", "folder", "stepca", "cfssl")
	why := " when source.kind is " + s.Kind
	switch s.Kind {
	case "openssl":
		v.required("source.openssl.dir", s.OpenSSL.Dir, why)
		for i, f := range s.OpenSSL.CRLFiles {
			if f == "" {
				v.add(fmt.Sprintf("source.openssl.crl_files[%d]", i), "empty path")
			}
		}
	case "folder":
		v.required("source.folder.dir", s.Folder.Dir, why)
	case "stepca":
		v.required("source.stepca.dsn_file", s.StepCA.DSNFile, why)
		if s.StepCA.CRLURL != "" {
			u, err := url.Parse(s.StepCA.CRLURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				v.add("source.stepca.crl_url", "must be an http:// or https:// URL, not %q", s.StepCA.CRLURL)
			}
		}
	case "cfssl":
		v.oneOf("source.cfssl.driver", s.CFSSL.Driver, "postgres", "sqlite")
		v.required("source.cfssl.dsn_file", s.CFSSL.DSNFile, why)
	}
}

func (v *validator) trust(t *Trust) {
	if len(t.CAFiles) == 0 {
		v.add("trust.ca_files", "at least one CA certificate file is required: certgal only manages what these CAs issued")
		return
	}
	for i, f := range t.CAFiles {
		v.file(fmt.Sprintf("trust.ca_files[%d]", i), f)
	}
}

func (v *validator) directory(d *Directory) {
	v.directoryURLs(d)
	v.oneOf("directory.dialect", d.Dialect, "auto", "ad", "openldap")
	v.dn("directory.base_dn", d.BaseDN, true)
	gssapi := v.sasl(d)
	switch {
	case gssapi:
		// The keytab's principal binds; a bind DN or password would be ignored.
		if d.BindDN != "" {
			v.add("directory.bind_dn", "not used with sasl_mechanism GSSAPI: principal binds")
		}
		if d.BindPasswordFile != "" {
			v.add("directory.bind_password_file", "not used with sasl_mechanism GSSAPI: keytab_file holds the keys")
		}
	case d.BindDN != "" && d.BindPasswordFile == "":
		v.dn("directory.bind_dn", d.BindDN, false)
		v.add("directory.bind_password_file", "required when directory.bind_dn is set")
	case d.BindDN == "" && d.BindPasswordFile != "":
		v.add("directory.bind_dn", "required when directory.bind_password_file is set (without it certgal binds anonymously)")
	default:
		v.dn("directory.bind_dn", d.BindDN, false)
	}
	if d.CAFile != "" {
		v.file("directory.ca_file", d.CAFile)
	}
	if d.Timeout <= 0 {
		v.add("directory.timeout", "must be greater than 0, not %s", formatDuration(d.Timeout))
	}
	if d.PageSize < 1 || d.PageSize > 100000 {
		v.add("directory.page_size", "must be between 1 and 100000, not %d", d.PageSize)
	}
	if d.UserFilter != "" {
		if _, err := ldap.CompileFilter(d.UserFilter); err != nil {
			// ldap.Error's text repeats a result code that no server sent.
			var le *ldap.Error
			if errors.As(err, &le) && le.Err != nil {
				err = le.Err
			}
			v.add("directory.user_filter", "cannot compile %q: %v", d.UserFilter, err)
		}
	}
	seen := make(map[string]int, len(d.MatchAttributes))
	for i, a := range d.MatchAttributes {
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

// sasl checks sasl_mechanism and the keys of GSSAPI, and reports whether it is GSSAPI.
func (v *validator) sasl(d *Directory) bool {
	urls := d.URLList()
	schemes := make(map[string]bool)
	for _, u := range urls {
		scheme, _, _ := strings.Cut(u, "://")
		schemes[scheme] = true
	}
	switch d.SASLMechanism {
	case "":
	case "EXTERNAL":
		if d.Discover != "" || schemes["ldap"] || schemes["ldaps"] {
			v.add("directory.sasl_mechanism", "EXTERNAL binds as the process's user over ldapi:// only")
		}
		if d.BindDN != "" {
			v.add("directory.bind_dn", "not used with sasl_mechanism EXTERNAL")
		}
	case "GSSAPI":
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
		return true
	default:
		v.add("directory.sasl_mechanism", "must be empty (simple bind), EXTERNAL or GSSAPI, not %q", d.SASLMechanism)
	}
	for _, kv := range [][2]string{{"directory.keytab_file", d.KeytabFile}, {"directory.principal", d.Principal}, {"directory.krb5_conf_file", d.KRB5ConfFile}} {
		if kv[1] != "" {
			v.add(kv[0], "only used with sasl_mechanism GSSAPI")
		}
	}
	return false
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

func (v *validator) policy(p *Policy) {
	v.oneOf("policy.keep", p.Keep, "newest", "all")
	if p.ExpiredGrace < 0 {
		v.add("policy.expired_grace", "must not be negative, not %s", formatDuration(p.ExpiredGrace))
	}
	if p.MaxValues < 1 {
		v.add("policy.max_values", "must be at least 1, not %d", p.MaxValues)
	}
	if p.MaxDeletes < 0 {
		v.add("policy.max_deletes", "must not be negative, not %d (0 lets no address lose its last key)", p.MaxDeletes)
	}
	v.oneOf("policy.smime_attribute", p.SMIMEAttribute, "report", "remove-stale", "manage")
}

func (v *validator) lookup(l *Lookup) {
	v.listen("lookup.listen", l.Listen)
	switch {
	case l.TLSCertFile != "" && l.TLSKeyFile == "":
		v.add("lookup.tls_key_file", "required when lookup.tls_cert_file is set")
	case l.TLSCertFile == "" && l.TLSKeyFile != "":
		v.add("lookup.tls_cert_file", "required when lookup.tls_key_file is set")
	case l.TLSCertFile != "":
		v.file("lookup.tls_cert_file", l.TLSCertFile)
		v.file("lookup.tls_key_file", l.TLSKeyFile)
	}
	// The negated form also refuses NaN.
	if !(l.RatePerSecond > 0) || math.IsInf(l.RatePerSecond, 0) {
		v.add("lookup.rate_per_second", "must be a number greater than 0, not %v", l.RatePerSecond)
	}
	if l.Burst < 1 {
		v.add("lookup.burst", "must be at least 1, not %d", l.Burst)
	}
	for i, p := range l.TrustedProxies {
		if _, err := ParseProxy(p); err != nil {
			v.add(fmt.Sprintf("lookup.trusted_proxies[%d]", i), "%v", err)
		}
	}
}

// ParseProxy reads an entry of lookup.trusted_proxies: an address or a CIDR range.
func ParseProxy(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or CIDR range (192.0.2.10, 10.0.0.0/8, 2001:db8::/32)", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// listen checks a listener address; empty disables the listener.
func (v *validator) listen(key, addr string) {
	if addr == "" {
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.add(key, "%q is not host:port (use \":8080\" for every interface, \"\" to disable)", addr)
		return
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		v.add(key, "port %q in %q is not a number between 0 and 65535", port, addr)
	}
}

func (v *validator) log(l *Log) {
	if _, err := logrus.ParseLevel(l.Level); err != nil {
		v.add("log.level", "must be one of panic, fatal, error, warn, info, debug, trace, not %q", l.Level)
	}
	v.oneOf("log.format", l.Format, "text", "json")
}
