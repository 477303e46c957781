package testserver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// ScriptPath finds testdata/<sub>/<name> in the module root: above this source file, or, when
// its path is unknown (-trimpath), above the working directory (the test's package directory).
func ScriptPath(sub, name string) (string, error) {
	var starts []string
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	for _, d := range starts {
		for {
			p := filepath.Join(d, "testdata", sub, name)
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				if _, err := os.Stat(p); err != nil {
					return "", err
				}
				return p, nil
			}
			parent := filepath.Dir(d)
			if parent == d {
				break
			}
			d = parent
		}
	}
	return "", fmt.Errorf("testdata/%s/%s: no go.mod above %v", sub, name, starts)
}

// RunScript runs script with args under bash; env is its whole environment (nil: this
// process's).
func RunScript(ctx context.Context, env []string, script string, args ...string) (stdout, stderr string, err error) {
	return Run(ctx, env, "", "bash", append([]string{script}, args...)...)
}

// Run runs the program name with args in dir ("": this process's working directory); env is
// its whole environment (nil: this process's). It returns what the program wrote to stdout and
// stderr.
func Run(ctx context.Context, env []string, dir, name string, args ...string) (stdout, stderr string, err error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout = &out
	cmd.Stderr = &errb
	// Servers and their watchdogs do not keep our pipes open; this bounds the wait if that
	// ever breaks.
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	return out.String(), errb.String(), err
}

// ReadEnvFile reads the env file a script wrote (see ParseEnv).
func ReadEnvFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	vars, err := ParseEnv(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vars, nil
}

// ParseEnv reads NAME='value' lines as the scripts write them, shell-sourceable: a value is
// single-quoted, and a quote inside it closes the quoted part, follows as \' and a new quoted
// part opens. Blank lines and # comments are skipped.
func ParseEnv(s string) (map[string]string, error) {
	vars := map[string]string{}
	for i, line := range strings.Split(s, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, quoted, ok := strings.Cut(line, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("line %d: not NAME=value", i+1)
		}
		var b strings.Builder
		for rest := quoted; len(rest) > 0; {
			switch {
			case strings.HasPrefix(rest, `\'`):
				b.WriteByte('\'')
				rest = rest[2:]
			case rest[0] == '\'':
				end := strings.IndexByte(rest[1:], '\'')
				if end < 0 {
					return nil, fmt.Errorf("line %d (%s): unterminated quote", i+1, name)
				}
				b.WriteString(rest[1 : 1+end])
				rest = rest[end+2:]
			default:
				return nil, fmt.Errorf("line %d (%s): values must be single-quoted", i+1, name)
			}
		}
		vars[name] = b.String()
	}
	return vars, nil
}
