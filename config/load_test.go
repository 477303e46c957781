package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// files is where the fixtures live, seen from the package directory the tests run in.
const files = "../testdata/config/files/"

func TestLoadGood(t *testing.T) {
	tests := []struct {
		file string
		want func() *Config
	}{
		{"full.yaml", func() *Config {
			return &Config{
				Schedule: "0 */2 * * *",
				Source: Source{
					Kind:    "openssl",
					OpenSSL: OpenSSL{Dir: "/var/lib/smime-ca", CRLFiles: []string{"crl.pem", "crl-2.der"}},
					Folder:  Folder{Dir: "/srv/smime-drop", Recursive: false},
					// Only the selected kind's DSN is read.
					StepCA: StepCA{DSNFile: files + "stepca.dsn", CRLURL: "https://ca.example.com/crl"},
					CFSSL:  CFSSL{Driver: "sqlite", DSNFile: files + "cfssl.dsn"},
				},
				Trust: Trust{CAFiles: []string{files + "ca.pem", files + "ldap-ca.pem"}},
				Dir: Directory{
					URL:              "ldap://dc1.corp.example.com:389",
					DNSServer:        "10.0.0.53:53",
					Dialect:          "ad",
					BindDN:           "CN=certgal,OU=Service,DC=corp,DC=example,DC=com",
					BindPasswordFile: files + "bind-password",
					BindPassword:     "s3cret-bind-pw",
					BaseDN:           "DC=corp,DC=example,DC=com",
					UserFilter:       "(&(objectCategory=person)(objectClass=user)(mail=*))",
					MatchAttributes:  []string{"mail", "proxyAddresses", "otherMailbox"},
					StartTLS:         true,
					CAFile:           files + "ldap-ca.pem",
					Timeout:          90 * time.Second,
					PageSize:         500,
				},
				Policy: Policy{
					Keep:           "all",
					ExpiredGrace:   72 * time.Hour,
					MaxValues:      10,
					MaxDeletes:     0,
					SMIMEAttribute: "manage",
				},
				Lookup: Lookup{
					Listen:         "127.0.0.1:8443",
					TLSCertFile:    files + "lookup.crt",
					TLSKeyFile:     files + "lookup.key",
					RatePerSecond:  2.5,
					Burst:          5,
					TrustedProxies: []string{"10.0.0.0/8", "2001:db8::1"},
				},
				Metrics: Metrics{Listen: "[::1]:9464", EnableTrigger: true, TriggerMinInterval: 5 * time.Minute},
				Log:     Log{Level: "debug", Format: "json"},
			}
		}},
		{"minimal.yaml", func() *Config {
			c := Default()
			c.Source.Kind = "folder"
			c.Source.Folder.Dir = "/srv/smime-drop"
			c.Trust.CAFiles = []string{files + "ca.pem"}
			c.Dir.URL = "ldaps://ldap.example.com"
			c.Dir.BaseDN = "dc=example,dc=com"
			return c
		}},
		{"kerberos.yaml", func() *Config {
			c := Default()
			c.Source.Kind = "folder"
			c.Source.Folder.Dir = "/srv/smime-drop"
			c.Trust.CAFiles = []string{files + "ca.pem"}
			c.Dir.Discover = "corp.example.com"
			c.Dir.DNSServer = "10.0.0.53:53"
			c.Dir.SASLMechanism = "GSSAPI"
			c.Dir.KeytabFile = files + "certgal.keytab"
			c.Dir.Principal = "certgal@CORP.EXAMPLE.COM"
			c.Dir.KRB5ConfFile = files + "krb5.conf"
			c.Dir.BaseDN = "DC=corp,DC=example,DC=com"
			return c
		}},
		{"stepca.yaml", func() *Config {
			c := Default()
			c.Source.Kind = "stepca"
			c.Source.StepCA = StepCA{
				DSNFile: files + "stepca.dsn",
				DSN:     "postgres://certgal_ro@db.example.com/stepca?sslmode=verify-full",
				CRLURL:  "http://ca.internal:9000/crl",
			}
			c.Trust.CAFiles = []string{files + "ca.pem"}
			c.Dir.URL = "ldapi://%2Fvar%2Frun%2Fslapd%2Fldapi"
			c.Dir.Dialect = "openldap"
			c.Dir.BaseDN = "dc=example,dc=com"
			return c
		}},
		{"cfssl.yaml", func() *Config {
			c := Default()
			c.Source.Kind = "cfssl"
			c.Source.CFSSL = CFSSL{
				Driver:  "postgres",
				DSNFile: files + "cfssl.dsn",
				DSN:     "file:/var/lib/cfssl/certdb.sqlite?mode=ro",
			}
			c.Trust.CAFiles = []string{files + "ca.pem"}
			c.Dir.URL = "ldap://ldap.example.com"
			c.Dir.AllowPlaintext = true
			c.Dir.BindDN = "cn=certgal,ou=services,dc=example,dc=com"
			c.Dir.BindPasswordFile = files + "bind-password-crlf"
			c.Dir.BindPassword = "pw-with-crlf"
			c.Dir.BaseDN = "dc=example,dc=com"
			c.Lookup.Listen = ""
			c.Metrics.Listen = ""
			return c
		}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			got, err := LoadFile(filepath.Join("../testdata/config/good", tt.file))
			if err != nil {
				t.Fatalf("LoadFile: %v", err)
			}
			if want := tt.want(); !reflect.DeepEqual(got, want) {
				t.Errorf("LoadFile:\n got %+v\nwant %+v", *got, *want)
			}
		})
	}
	// A file added to good/ without a case here would prove nothing.
	all, err := filepath.Glob("../testdata/config/good/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no case in TestLoadGood", f)
		}
	}
}

// TestLoadBad checks that each bad/NAME.yaml fails with exactly the errors in
// bad/NAME.err, one rule per file.
func TestLoadBad(t *testing.T) {
	yamls, err := filepath.Glob("../testdata/config/bad/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	errFiles, err := filepath.Glob("../testdata/config/bad/*.err")
	if err != nil {
		t.Fatal(err)
	}
	if len(yamls) == 0 || len(yamls) != len(errFiles) {
		t.Fatalf("%d .yaml and %d .err files in testdata/config/bad; want one .err per .yaml", len(yamls), len(errFiles))
	}
	for _, path := range yamls {
		name := strings.TrimSuffix(filepath.Base(path), ".yaml")
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(strings.TrimSuffix(path, ".yaml") + ".err")
			if err != nil {
				t.Fatal(err)
			}
			c, err := LoadFile(path)
			if err == nil {
				t.Fatalf("LoadFile succeeded; want:\n%s", want)
			}
			if c != nil {
				t.Errorf("LoadFile returned a config along with the error")
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("LoadFile error is %T, want *Errors: %v", err, err)
			}
			if got := err.Error(); got != strings.TrimSuffix(string(want), "\n") {
				t.Errorf("LoadFile error:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestDesignExample keeps DESIGN.md's example a valid file: only the files it
// names are missing on a test machine.
func TestDesignExample(t *testing.T) {
	data, err := os.ReadFile("../testdata/config/design-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, content := range map[string]string{
		"issuing-ca.pem": "not parsed by config\n",
		"bind-password":  "pw\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data = []byte(strings.ReplaceAll(string(data), "/etc/certgal/", dir+"/"))
	c, err := Load(data)
	if err != nil {
		t.Fatalf("Load:\n%v", err)
	}
	if c.Dir.BindPassword != "pw" {
		t.Errorf("BindPassword = %q, want %q", string(c.Dir.BindPassword), "pw")
	}
	// The example spells out the defaults, so it must load as Default() plus
	// the keys Default() leaves empty.
	want := Default()
	want.Source.Kind = "openssl"
	want.Source.OpenSSL = OpenSSL{Dir: "/var/lib/smime-ca", CRLFiles: []string{"crl.pem"}}
	want.Source.Folder.Dir = "/srv/smime-drop"
	want.Source.StepCA.DSNFile = dir + "/stepca.dsn"
	want.Source.CFSSL.DSNFile = dir + "/cfssl.dsn"
	want.Trust.CAFiles = []string{dir + "/issuing-ca.pem"}
	want.Dir.URL = "ldaps://dc1.corp.example.com"
	want.Dir.BindDN = "CN=certgal,OU=Service,DC=corp,DC=example,DC=com"
	want.Dir.BindPasswordFile = dir + "/bind-password"
	want.Dir.BindPassword = "pw"
	want.Dir.BaseDN = "DC=corp,DC=example,DC=com"
	want.Dir.MatchAttributes = []string{"mail", "proxyAddresses"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", *c, *want)
	}
}

func TestLoadEmpty(t *testing.T) {
	want := strings.Join([]string{
		"source.kind: required: one of openssl, folder, stepca, cfssl",
		"trust.ca_files: at least one CA certificate file is required: certgal only manages what these CAs issued",
		"directory.url: required",
		"directory.base_dn: required",
	}, "\n")
	for _, data := range []string{"", "\n", "# only a comment\n", "---\n", "~\n"} {
		_, err := Load([]byte(data))
		if err == nil || err.Error() != want {
			t.Errorf("Load(%q) error:\n%v\nwant:\n%s", data, err, want)
		}
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile("../testdata/config/nonexistent.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadFile error = %v, want fs.ErrNotExist", err)
	}
}

func TestReadSecretFile(t *testing.T) {
	tests := []struct {
		content string
		want    Secret
		wantErr string
	}{
		{content: "pw", want: "pw"},
		{content: "pw\n", want: "pw"},
		{content: "pw\r\n", want: "pw"},
		{content: "pw\n\n", want: "pw\n"},
		{content: "pw\r", want: "pw\r"},
		{content: " pw \t\n", want: " pw \t"},
		{content: "", wantErr: "is empty"},
		{content: "\n", wantErr: "is empty"},
		{content: "\r\n", wantErr: "is empty"},
		{content: strings.Repeat("x", maxSecretSize), want: Secret(strings.Repeat("x", maxSecretSize))},
		{content: strings.Repeat("x", maxSecretSize+1), wantErr: "is larger than 65536 bytes"},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readSecretFile(path)
		switch {
		case tt.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("readSecretFile(%.20q) error = %v, want %q", tt.content, err, tt.wantErr)
			}
		case err != nil:
			t.Errorf("readSecretFile(%.20q): %v", tt.content, err)
		case got != tt.want:
			t.Errorf("readSecretFile(%.20q) = %.20q, want %.20q", tt.content, string(got), string(tt.want))
		}
	}
}

// TestFullSetsEveryKey keeps good/full.yaml complete as keys are added, so
// that it goes on proving every key can be set.
func TestFullSetsEveryKey(t *testing.T) {
	data, err := os.ReadFile("../testdata/config/good/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(prefix string, typ reflect.Type, m map[string]any)
	walk = func(prefix string, typ reflect.Type, m map[string]any) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			name, ok := yamlName(f)
			if !ok || f.Type == reflect.TypeFor[Secret]() {
				continue
			}
			val, ok := m[name]
			if !ok {
				t.Errorf("full.yaml does not set %s%s", prefix, name)
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
				sub, _ := val.(map[string]any)
				walk(prefix+name+".", f.Type, sub)
			}
		}
	}
	walk("", reflect.TypeFor[Config](), doc)
}
