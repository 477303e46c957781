package ldaptest

import (
	"fmt"
	"os"
	"strings"
)

// parseEnvFile reads the env file start.sh writes: one NAME='value' per line. A single quote in
// a value closes the quoted part, follows as \' and a new quoted part opens, as in the shell.
func parseEnvFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	vars, err := parseEnv(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return vars, nil
}

func parseEnv(s string) (map[string]string, error) {
	vars := map[string]string{}
	for i, line := range strings.Split(s, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, quoted, ok := strings.Cut(line, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("line %d: not NAME=value: %q", i+1, line)
		}
		v, err := shellUnquote(quoted)
		if err != nil {
			return nil, fmt.Errorf("line %d (%s): %w", i+1, name, err)
		}
		vars[name] = v
	}
	return vars, nil
}

// shellUnquote undoes single-quote shell quoting: a sequence of '...' parts and \' escapes.
func shellUnquote(s string) (string, error) {
	var b strings.Builder
	for len(s) > 0 {
		switch {
		case strings.HasPrefix(s, `\'`):
			b.WriteByte('\'')
			s = s[2:]
		case s[0] == '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return "", fmt.Errorf("unterminated quote in %q", s)
			}
			b.WriteString(s[1 : 1+end])
			s = s[end+2:]
		default:
			return "", fmt.Errorf("unexpected %q: values must be single-quoted", s)
		}
	}
	return b.String(), nil
}
