package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfig(t *testing.T) {
	files, _ := filepath.Abs("../../testdata/config/files")
	write := func(source string) string {
		path := filepath.Join(t.TempDir(), "certgal.yaml")
		cfg := fmt.Sprintf(`source: %s
trust: {ca_files: [%[2]s/ca.pem]}
directory:
  url: ldaps://dc1.corp.example
  base_dn: DC=corp,DC=example
  bind_dn: CN=certgal,DC=corp,DC=example
  bind_password_file: %[2]s/bind-password
`, source, files)
		os.WriteFile(path, []byte(cfg), 0o600)
		return path
	}
	password, _ := os.ReadFile(filepath.Join(files, "bind-password"))
	tests := []struct {
		name, source string
		code         int
		want         string
	}{
		{"valid", "{kind: openssl, openssl: {dir: /var/lib/smime-ca}}", 0, "bind_password: <secret>"},
		{"defaults shown", "{kind: openssl, openssl: {dir: /var/lib/smime-ca}}", 0, "max_deletes: 500"},
		{"trigger off by default", "{kind: openssl, openssl: {dir: /var/lib/smime-ca}}", 0, "enable_trigger: false\n  trigger_min_interval: 1m"},
		{"driver only the source knows", fmt.Sprintf("{kind: cfssl, cfssl: {driver: sqlite, dsn_file: %s/cfssl.dsn}}", files), 2, "source.cfssl.driver"},
		{"unknown key", "{kind: openssl, openssl: {dir: /x, bogus: 1}}", 2, "source.openssl.bogus: unknown key"},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"check-config", "-config", write(tc.source)}, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want %d with %q\n%s", tc.name, code, tc.code, tc.want, out)
		}
		if secret := strings.TrimSpace(string(password)); strings.Contains(out, secret) {
			t.Errorf("%s: the password is printed", tc.name)
		}
	}
}
