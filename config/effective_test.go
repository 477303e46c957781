package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestEffective(t *testing.T) {
	tests := []struct {
		file    string
		want    []string
		notWant []string
	}{
		{
			file: "full.yaml",
			want: []string{
				"bind_password_file: ../testdata/config/files/bind-password\n",
				"  bind_password: <secret>\n",
				"  timeout: 1m30s\n",
				"  expired_grace: 72h\n",
				"  max_deletes: 0\n",
				"  rate_per_second: 2.5\n",
				"  trusted_proxies: [10.0.0.0/8, '2001:db8::1']\n",
				"  ca_files: [../testdata/config/files/ca.pem, ../testdata/config/files/ldap-ca.pem]\n",
				`  listen: '[::1]:9464'` + "\n",
			},
			// Only the selected source's DSN is loaded.
			notWant: []string{"s3cret-bind-pw", "dsn: "},
		},
		{
			file: "minimal.yaml",
			want: []string{
				`schedule: '@every 5m'` + "\n",
				"    recursive: true\n",
				"    driver: postgres\n",
				"  dialect: auto\n",
				"  match_attributes: []\n",
				"  start_tls: false\n",
				"  timeout: 30s\n",
				"  page_size: 1000\n",
				"  keep: newest\n",
				"  expired_grace: 24h\n",
				"  max_values: 15\n",
				"  max_deletes: 500\n",
				"  smime_attribute: report\n",
				`  listen: :8080` + "\n",
				"  rate_per_second: 10\n",
				"  burst: 20\n",
				"  trusted_proxies: []\n",
				"  level: info\n",
				"  format: text\n",
			},
			notWant: []string{"bind_password:", "<secret>", "dsn:"},
		},
		{
			file:    "stepca.yaml",
			want:    []string{"    dsn: <secret>\n"},
			notWant: []string{"postgres://"},
		},
		{
			file:    "cfssl.yaml",
			want:    []string{"    dsn: <secret>\n", "  bind_password: <secret>\n", "  listen: \"\"\n"},
			notWant: []string{"pw-with-crlf", "certdb.sqlite"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			c, err := LoadFile("../testdata/config/good/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Effective()
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("Effective() lacks %q:\n%s", w, out)
				}
			}
			for _, nw := range tt.notWant {
				if strings.Contains(string(out), nw) {
					t.Errorf("Effective() contains %q:\n%s", nw, out)
				}
			}
		})
	}
}

// TestEffectiveRoundTrip checks that check-config's output, once its secrets
// are gone, is itself a valid file meaning the same configuration.
func TestEffectiveRoundTrip(t *testing.T) {
	for _, file := range []string{"full.yaml", "minimal.yaml", "stepca.yaml", "cfssl.yaml", "kerberos.yaml"} {
		t.Run(file, func(t *testing.T) {
			c, err := LoadFile("../testdata/config/good/" + file)
			if err != nil {
				t.Fatal(err)
			}
			out, err := c.Effective()
			if err != nil {
				t.Fatal(err)
			}
			var kept []string
			for line := range strings.Lines(string(out)) {
				if !strings.Contains(line, "<secret>") {
					kept = append(kept, line)
				}
			}
			again, err := Load([]byte(strings.Join(kept, "")))
			if err != nil {
				t.Fatalf("Load(Effective()):\n%v\n%s", err, out)
			}
			// Load reads the secrets again from their files.
			if !reflect.DeepEqual(again, c) {
				t.Errorf("Load(Effective()) = %+v\nwant %+v", *again, *c)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{30 * time.Second, "30s"},
		{5 * time.Minute, "5m"},
		{24 * time.Hour, "24h"},
		{90 * time.Minute, "1h30m"},
		{time.Hour + time.Second, "1h0m1s"},
		{-time.Hour, "-1h"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		if got := formatDuration(tt.d); got != tt.want {
			t.Errorf("formatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
		if back, err := time.ParseDuration(tt.want); err != nil || back != tt.d {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.want, back, err, tt.d)
		}
	}
}
