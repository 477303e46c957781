package config

import (
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestSecretNeverPrints(t *testing.T) {
	s := Secret("hunter2")
	for _, format := range []string{"%v", "%s", "%+v", "%#v", "%q"} {
		if got := fmt.Sprintf(format, s); strings.Contains(got, "hunter2") {
			t.Errorf("Sprintf(%q) = %s", format, got)
		}
	}
	if got := fmt.Sprintf("%+v", Directory{BindPassword: s}); strings.Contains(got, "hunter2") {
		t.Errorf("Sprintf of a struct holding a Secret = %s", got)
	}
}

func TestSecretMarshalYAML(t *testing.T) {
	type doc struct {
		Set   Secret `yaml:"set"`
		Unset Secret `yaml:"unset,omitempty"`
	}
	out, err := yaml.Marshal(doc{Set: "hunter2"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "set: <secret>\n"; string(out) != want {
		t.Errorf("yaml.Marshal = %q, want %q", out, want)
	}
}

func TestSecretUnmarshalYAMLRefuses(t *testing.T) {
	var v struct {
		Password Secret `yaml:"password"`
	}
	err := yaml.Unmarshal([]byte("password: hunter2\n"), &v)
	if err == nil || !strings.Contains(err.Error(), "not accepted inline") {
		t.Errorf("yaml.Unmarshal error = %v, want a refusal", err)
	}
	if v.Password != "" {
		t.Errorf("Password = %q after a refused unmarshal", string(v.Password))
	}
}
