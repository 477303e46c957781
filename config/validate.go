package config

import (
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
