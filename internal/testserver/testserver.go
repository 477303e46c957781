// Package testserver runs the servers and tools that this module's tests need from the scripts
// under testdata/ (testdata/<sub>/start.sh, stop.sh, …), reads the env files those scripts write,
// and holds the one rule for a server that cannot be had: under CI=true the test fails, because
// CI must run it; elsewhere it skips, saying why. The harnesses ldapgal/ldaptest,
// ldapgal/adtest, certsource/servertest and certsource/catest are built on it.
package testserver

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

// ExitUnavailable is the scripts' exit code when a prerequisite (slapd, openssl, a CA binary…)
// is missing and cannot be had.
const ExitUnavailable = 3

// stopTimeout bounds a stop.sh: it signals a server and waits for it to go.
const stopTimeout = time.Minute

// Unavailable fails t under CI=true, where every server must run, and skips it elsewhere; the
// message says what is missing.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (CI=true requires it)", msg)
	}
	t.Skipf("%s; skipping (CI=true makes this a failure)", msg)
}

// Script runs testdata/<sub>/<name> with args under bash, with this process's environment plus
// env (a later NAME=value wins), and returns its stdout. Exit code ExitUnavailable makes t skip,
// or fail under CI=true (see Unavailable); any other failure fails t.
func Script(t testing.TB, timeout time.Duration, env []string, sub, name string, args ...string) string {
	t.Helper()
	stdout, stderr, err := runScript(timeout, env, sub, name, args...)
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == ExitUnavailable {
			Unavailable(t, "testdata/%s/%s cannot run here: %s", sub, name, strings.TrimSpace(stderr))
		}
		t.Fatalf("testdata/%s/%s %s: %v\n%s", sub, name, strings.Join(args, " "), err, stderr)
	}
	return stdout
}

// StopScript runs testdata/<sub>/stop.sh dir, which stops the server a start.sh started in dir
// by the PID it recorded there; nothing when dir is gone. A failure is an error of t, so that
// the other clean-ups still run. Register it with t.Cleanup before the start: a server that
// started but then failed its checks is stopped too.
func StopScript(t testing.TB, sub, dir string) {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		return
	}
	if _, stderr, err := runScript(stopTimeout, nil, sub, "stop.sh", dir); err != nil {
		t.Errorf("testdata/%s/stop.sh %s: %v\n%s", sub, dir, err, stderr)
	}
}

// ReadEnv reads the env file a script wrote and checks that each of names is set in it; a file
// that does not read, or lacks one of them, fails t.
func ReadEnv(t testing.TB, path string, names ...string) map[string]string {
	t.Helper()
	vars, err := ReadEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if vars[n] == "" {
			t.Fatalf("%s: %s is missing", path, n)
		}
	}
	return vars
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
