package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// configKeys lists every key of the file, dotted (directory.url), from the
// struct's yaml tags: a key added to the struct is a key the reference owes.
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := yamlName(f)
		if !ok {
			continue
		}
		key := prefix + name
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
			keys = append(keys, configKeys(f.Type, key+".")...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

// flatten turns check-config's YAML into dotted key → value as the reference
// writes it: the scalar, a list as [a, b], and — for empty.
func flatten(n *yaml.Node, prefix string, out map[string]string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := prefix+n.Content[i].Value, n.Content[i+1]
		switch val.Kind {
		case yaml.MappingNode:
			flatten(val, key+".", out)
		case yaml.SequenceNode:
			var items []string
			for _, c := range val.Content {
				items = append(items, c.Value)
			}
			out[key] = "[" + strings.Join(items, ", ") + "]"
		default:
			out[key] = val.Value
		}
		if out[key] == "" || out[key] == "[]" {
			out[key] = "—"
		}
	}
}

// TestReferenceDocumentsEveryKey fails when docs/configuration.md lacks a key
// of Config, documents one it no longer has, or gives a default other than
// Default()'s as check-config prints it. A new key: add its row there.
func TestReferenceDocumentsEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{} // key → default cell
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z0-9_.]+)` \\| ([^|]+) \\|").FindAllStringSubmatch(string(doc), -1) {
		if _, dup := rows[m[1]]; dup {
			t.Errorf("docs/configuration.md: %s has two rows", m[1])
		}
		rows[m[1]] = strings.Trim(strings.TrimSpace(m[2]), "`")
	}
	effective, err := Default().Effective()
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(effective, &root); err != nil {
		t.Fatal(err)
	}
	defaults := map[string]string{}
	flatten(root.Content[0], "", defaults)

	keys := configKeys(reflect.TypeFor[Config](), "")
	for _, k := range keys {
		got, ok := rows[k]
		if !ok {
			t.Errorf("docs/configuration.md has no row for %s", k)
			continue
		}
		want, ok := defaults[k]
		if !ok {
			want = "—" // an omitempty secret: never printed unset
		}
		if got != want {
			t.Errorf("docs/configuration.md: %s defaults to %q, the reference says %q", k, want, got)
		}
	}
	for k := range rows {
		if !slices.Contains(keys, k) {
			t.Errorf("docs/configuration.md documents %s, which the configuration does not have", k)
		}
	}
}
