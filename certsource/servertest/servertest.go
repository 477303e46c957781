// Package servertest runs the real CA stores certgal reads, for tests: a private PostgreSQL
// cluster (testdata/postgres), Smallstep step-ca (testdata/stepca) and CFSSL (testdata/cfssl),
// each on loopback in the test's temporary directory, stopped by PID when the test ends.
//
// PostgreSQL starts in about a second and is always available to tests. step-ca and CFSSL are
// built from their released module versions the first time (minutes; cached under
// /var/cache/certgal-tools), so tests that need them run only when CERTGAL_SOURCES=1
// (`make test-sources`) and skip otherwise. A server that cannot be had skips its test, or fails
// it under CI=true.
package servertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// SourcesEnv is the variable that enables the tests needing step-ca or CFSSL.
const SourcesEnv = "CERTGAL_SOURCES"

// exitUnavailable is the scripts' exit code when a prerequisite is missing and cannot be had.
const exitUnavailable = 3

// RequireSources skips t unless CERTGAL_SOURCES=1.
func RequireSources(t testing.TB) {
	t.Helper()
	if os.Getenv(SourcesEnv) != "1" {
		t.Skipf("servertest: needs step-ca or CFSSL, built on first use (minutes); run `make test-sources` or set %s=1", SourcesEnv)
	}
}

// unavailable fails t under CI=true, where the servers must run, and skips it elsewhere.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("servertest: %s (CI=true requires it)", msg)
	}
	t.Skipf("servertest: %s; skipping (CI=true makes this a failure)", msg)
}

// script runs testdata/<sub>/<name> with args and extra environment and returns its stdout.
// Exit code 3 makes the test skip (or fail under CI=true); any other failure fails it.
func script(t testing.TB, timeout time.Duration, env []string, sub, name string, args ...string) string {
	t.Helper()
	stdout, stderr, err := runScript(timeout, env, sub, name, args...)
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == exitUnavailable {
			unavailable(t, "%s/%s: %s", sub, name, strings.TrimSpace(stderr))
		}
		t.Fatalf("servertest: testdata/%s/%s %s: %v\n%s", sub, name, strings.Join(args, " "), err, stderr)
	}
	return stdout
}

func runScript(timeout time.Duration, env []string, sub, name string, args ...string) (stdout, stderr string, err error) {
	path, err := ScriptPath(sub, name)
	if err != nil {
		return "", "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return RunScript(ctx, append(os.Environ(), env...), path, args...)
}

// readEnv reads the env file a script wrote; a file that does not read fails t.
func readEnv(t testing.TB, path string) map[string]string {
	t.Helper()
	vars, err := ReadEnvFile(path)
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	return vars
}

func need(t testing.TB, vars map[string]string, names ...string) {
	t.Helper()
	for _, n := range names {
		if vars[n] == "" {
			t.Fatalf("servertest: %s missing from the script's env file", n)
		}
	}
}
