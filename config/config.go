// Package config holds certgal's configuration: the YAML schema, its defaults
// and its validation. It is data only and imports none of certgal's packages.
//
// Paths in a configuration are used as given: a relative path is relative to
// the working directory of the process, not to the configuration file.
package config

import "time"

// Config is the whole configuration file. Every key is documented on its field;
// unknown keys are an error.
type Config struct {
	// Schedule is a robfig/cron spec (5 fields or a descriptor such as "@every 5m")
	// used by `certgal run`.
	Schedule string    `yaml:"schedule"`
	Source   Source    `yaml:"source"`
	Trust    Trust     `yaml:"trust"`
	Dir      Directory `yaml:"directory"`
	Policy   Policy    `yaml:"policy"`
	Lookup   Lookup    `yaml:"lookup"`
	Metrics  Metrics   `yaml:"metrics"`
	Log      Log       `yaml:"log"`
}

// Source selects and configures the CA store certificates are read from.
type Source struct {
	// Kind is one of openssl, folder, stepca, cfssl; only its section is used.
	Kind    string  `yaml:"kind"`
	OpenSSL OpenSSL `yaml:"openssl"`
	Folder  Folder  `yaml:"folder"`
	StepCA  StepCA  `yaml:"stepca"`
	CFSSL   CFSSL   `yaml:"cfssl"`
}

// OpenSSL is an `openssl ca` (or easy-rsa) directory. certgal reads index.txt and
// newcerts/ (or certs/, issued/) and never opens private/.
type OpenSSL struct {
	// Dir is the CA directory holding index.txt.
	Dir string `yaml:"dir"`
	// CRLFiles are CRLs (PEM or DER), relative to Dir unless absolute.
	CRLFiles []string `yaml:"crl_files"`
}

// Folder is a drop folder of issued certificates and CRLs.
type Folder struct {
	Dir       string `yaml:"dir"`
	Recursive bool   `yaml:"recursive"`
}

// StepCA is Smallstep step-ca's PostgreSQL database.
type StepCA struct {
	// DSNFile holds the PostgreSQL DSN of a read-only user.
	DSNFile string `yaml:"dsn_file"`
	// DSN is read from DSNFile at load time when Kind is stepca; inline it is refused.
	DSN Secret `yaml:"dsn,omitempty"`
	// CRLURL is step-ca's /crl endpoint, if enabled.
	CRLURL string `yaml:"crl_url"`
}

// CFSSL is CFSSL's certdb.
type CFSSL struct {
	// Driver is postgres or sqlite.
	Driver  string `yaml:"driver"`
	DSNFile string `yaml:"dsn_file"`
	// DSN is read from DSNFile at load time when Kind is cfssl; inline it is refused.
	DSN Secret `yaml:"dsn,omitempty"`
}

// Trust names the issuing CAs certgal works for. certgal owns every directory
// value whose signature verifies against one of them.
type Trust struct {
	CAFiles []string `yaml:"ca_files"`
}

// Directory is the LDAP server holding the users.
type Directory struct {
	// URL is ldaps://host[:port], ldap://host[:port] (with start_tls) or ldapi://path.
	URL string `yaml:"url"`
	// URLs are several domain controllers, instead of URL: tried in order, the
	// next when one cannot be reached.
	URLs []string `yaml:"urls"`
	// Discover is an Active Directory DNS domain, instead of URL and URLs: its
	// DCs are found from the SRV records _ldap._tcp.dc._msdcs.<domain>.
	Discover string `yaml:"discover"`
	// DNSServer is host:port of the DNS server asked for Discover and for the
	// DCs' names; empty means the system's resolver.
	DNSServer string `yaml:"dns_server"`
	// SASLMechanism is empty (a simple bind with bind_dn, or EXTERNAL over
	// ldapi:// without it), EXTERNAL or GSSAPI (Kerberos with keytab_file).
	SASLMechanism string `yaml:"sasl_mechanism"`
	// KeytabFile holds principal's keys for GSSAPI; read when the directory is
	// opened (start-up, reload), then held by the Kerberos client.
	KeytabFile string `yaml:"keytab_file"`
	// Principal is the GSSAPI identity, name@REALM (name alone: krb5.conf's default_realm).
	Principal string `yaml:"principal"`
	// KRB5ConfFile is the Kerberos configuration for GSSAPI; empty means /etc/krb5.conf.
	KRB5ConfFile string `yaml:"krb5_conf_file"`
	// Dialect is auto, ad or openldap; auto asks the rootDSE.
	Dialect string `yaml:"dialect"`
	BindDN  string `yaml:"bind_dn"`
	// BindPasswordFile holds the bind password; it is read at load time.
	BindPasswordFile string `yaml:"bind_password_file"`
	// BindPassword is read from BindPasswordFile; inline it is refused.
	BindPassword Secret `yaml:"bind_password,omitempty"`
	BaseDN       string `yaml:"base_dn"`
	// UserFilter selects the users; empty means the dialect's default.
	UserFilter string `yaml:"user_filter"`
	// MatchAttributes hold the users' addresses; empty means the dialect's default.
	MatchAttributes []string `yaml:"match_attributes"`
	StartTLS        bool     `yaml:"start_tls"`
	// CAFile is a PEM bundle to verify the server's certificate; empty means the system pool.
	CAFile string `yaml:"ca_file"`
	// AllowPlaintext permits ldap:// without StartTLS.
	AllowPlaintext bool          `yaml:"allow_plaintext"`
	Timeout        time.Duration `yaml:"timeout"`
	PageSize       int           `yaml:"page_size"`
}

// Policy decides what is published and what may be removed.
type Policy struct {
	// Keep is newest (the newest certificate for each of a user's addresses) or all
	// (every valid one, up to MaxValues).
	Keep string `yaml:"keep"`
	// ExpiredGrace is how long after notAfter an owned expired mail key is removed.
	ExpiredGrace time.Duration `yaml:"expired_grace"`
	// MaxValues caps the values of the attribute per entry (Entra Connect syncs 15).
	MaxValues int `yaml:"max_values"`
	// MaxDeletes holds a pass back when more of its removals would leave an address
	// without a key (an expired key with nothing replacing it, say): it then writes
	// only the removals of revoked keys. A renewal's removal and a revocation never
	// count. 0: no address ever loses its last key; renewals and revocations still go.
	MaxDeletes int `yaml:"max_deletes"`
	// SMIMEAttribute is report, remove-stale or manage (userSMIMECertificate).
	SMIMEAttribute string `yaml:"smime_attribute"`
}

// Lookup is the HTTP lookup service for senders.
type Lookup struct {
	// Listen is host:port; empty disables the service.
	Listen        string  `yaml:"listen"`
	TLSCertFile   string  `yaml:"tls_cert_file"`
	TLSKeyFile    string  `yaml:"tls_key_file"`
	RatePerSecond float64 `yaml:"rate_per_second"`
	Burst         int     `yaml:"burst"`
	// TrustedProxies are the addresses or CIDR ranges of reverse proxies in front of
	// the service. A request from one of them is rate-limited by the last address in
	// its X-Forwarded-For that is not a trusted proxy; empty: by the connection's.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Metrics is the listener for /metrics, /healthz, /readyz and POST /-/sync.
type Metrics struct {
	Listen string `yaml:"listen"`
	// EnableTrigger serves POST /-/sync, which starts a pass at once. Off by
	// default, like Prometheus' lifecycle API: each pass reads the whole
	// directory, and anyone who reaches Listen could ask for one.
	EnableTrigger bool `yaml:"enable_trigger"`
	// TriggerMinInterval is how long after the start of the last pass (of any
	// trigger) POST /-/sync is answered 429 with Retry-After.
	TriggerMinInterval time.Duration `yaml:"trigger_min_interval"`
}

// Log configures logrus.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// DefaultKRB5Conf is the Kerberos configuration GSSAPI uses when
// directory.krb5_conf_file is empty.
const DefaultKRB5Conf = "/etc/krb5.conf"

// KRB5Conf is krb5_conf_file, or DefaultKRB5Conf when it is empty.
func (d Directory) KRB5Conf() string {
	if d.KRB5ConfFile == "" {
		return DefaultKRB5Conf
	}
	return d.KRB5ConfFile
}

// URLList is every URL configured: url as a list of one, or urls (setting
// both is a configuration error); none with discover.
func (d Directory) URLList() []string {
	if d.URL != "" {
		return []string{d.URL}
	}
	return d.URLs
}

// Default returns the configuration every file starts from.
func Default() *Config {
	return &Config{
		Schedule: "@every 5m",
		Source: Source{
			Folder: Folder{Recursive: true},
			CFSSL:  CFSSL{Driver: "postgres"},
		},
		Dir: Directory{
			Dialect:  "auto",
			Timeout:  30 * time.Second,
			PageSize: 1000,
		},
		Policy: Policy{
			Keep:           "newest",
			ExpiredGrace:   24 * time.Hour,
			MaxValues:      15,
			MaxDeletes:     500,
			SMIMEAttribute: "report",
		},
		Lookup: Lookup{
			Listen:        ":8080",
			RatePerSecond: 10,
			Burst:         20,
		},
		Metrics: Metrics{Listen: ":9464", TriggerMinInterval: time.Minute},
		Log:     Log{Level: "info", Format: "text"},
	}
}
