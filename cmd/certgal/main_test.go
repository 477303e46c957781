package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/certgal/certgal/ldapgal/adtest"
)

// The Samba AD DC starts on the first test that needs it and stops after the last.
// The classifier's file cache of every certgal these tests run (in process or
// not) goes to a directory of this test binary's, not the user's: its tests
// then also run each other's certificates through the cache.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "certgal-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("CERTGAL_CACHE_DIR", dir)
	code := adtest.Run(m)
	os.RemoveAll(dir)
	os.Exit(code)
}
