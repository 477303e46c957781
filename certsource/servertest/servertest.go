// Package servertest runs the real CA stores certgal reads, for tests: a private PostgreSQL
// cluster (testdata/postgres), Smallstep step-ca (testdata/stepca) and CFSSL (testdata/cfssl),
// each on loopback in the test's temporary directory, stopped by PID when the test ends.
//
// PostgreSQL starts in about a second and is always available to tests. step-ca and CFSSL are
// built from their released module versions the first time (minutes; cached under
// /var/cache/certgal-tools), so tests that need them run only when CERTGAL_SOURCES=1
// (`make test-sources`) and skip otherwise. A server that cannot be had skips its test, or fails
// it under CI=true (internal/testserver, which runs the scripts).
package servertest

import (
	"os"
	"testing"
	"time"
)

// SourcesEnv is the variable that enables the tests needing step-ca or CFSSL.
const SourcesEnv = "CERTGAL_SOURCES"

// buildTimeout covers building step-ca, step or cfssl from source the first time.
const buildTimeout = 15 * time.Minute

// RequireSources skips t unless CERTGAL_SOURCES=1.
func RequireSources(t testing.TB) {
	t.Helper()
	if os.Getenv(SourcesEnv) != "1" {
		t.Skipf("servertest: needs step-ca or CFSSL, built on first use (minutes); run `make test-sources` or set %s=1", SourcesEnv)
	}
}
