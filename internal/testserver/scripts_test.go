package testserver

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseEnv(t *testing.T) {
	vars, err := ParseEnv("A='x'\nB='it'\\''s a \"pw\" $x'\nC=''\n\n# a comment\nD='a b=c'\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "x", "B": `it's a "pw" $x`, "C": "", "D": "a b=c"}
	for k, v := range want {
		if vars[k] != v {
			t.Errorf("%s = %q, want %q", k, vars[k], v)
		}
	}
	if len(vars) != len(want) {
		t.Errorf("%d variables, want %d", len(vars), len(want))
	}
	for _, bad := range []string{"A=x\n", "A='x\n", "noequals\n", "='x'\n"} {
		if _, err := ParseEnv(bad); err == nil {
			t.Errorf("ParseEnv(%q) succeeded", bad)
		}
	}
}

func TestScriptPath(t *testing.T) {
	p, err := ScriptPath("slapd", "start.sh")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(p), "..", "..", "go.mod")); err != nil {
		t.Errorf("%s is not under the module root: %v", p, err)
	}
	if _, err := ScriptPath("slapd", "no-such-script.sh"); err == nil {
		t.Error("a script that does not exist was found")
	}
}
