package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCacheDir(t *testing.T) {
	user := "" // no $HOME, no $XDG_CACHE_HOME: nowhere
	if dir, err := os.UserCacheDir(); err == nil {
		user = filepath.Join(dir, "certgal")
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"explicit", map[string]string{"CERTGAL_CACHE_DIR": "/srv/cache", "CACHE_DIRECTORY": "/var/cache/certgal"}, "/srv/cache"},
		{"off", map[string]string{"CERTGAL_CACHE_DIR": "off", "CACHE_DIRECTORY": "/var/cache/certgal"}, ""},
		{"systemd", map[string]string{"CACHE_DIRECTORY": "/var/cache/certgal"}, "/var/cache/certgal"},
		{"systemd, several", map[string]string{"CACHE_DIRECTORY": "/var/cache/certgal:/var/cache/other"}, "/var/cache/certgal"},
		{"the user's", map[string]string{}, user},
	} {
		if got := cacheDir(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
