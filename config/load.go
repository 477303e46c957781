package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// LoadFile reads the configuration file at path and loads it like Load.
// Relative paths inside the file are not resolved against the file's
// directory; see Load.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Load(data)
}

// Load decodes a configuration on top of Default, validates it and reads the
// secrets its *_file keys name. An empty document yields the defaults, which
// are not valid on their own (source.kind, trust.ca_files, directory.url and
// directory.base_dn have no default).
//
// Relative paths in the configuration (trust.ca_files, directory.ca_file,
// every *_file key, source directories) are used as given, that is relative to
// the working directory of the process, not to the configuration file; use
// absolute paths in production.
//
// On any problem Load returns a nil Config and an *Errors holding every
// problem found, each naming its key path.
func Load(data []byte) (*Config, error) {
	c := Default()
	d := decoder{}
	if !d.document(data, reflect.ValueOf(c).Elem()) {
		return nil, &d.errs
	}
	errs := d.errs
	for _, e := range validate(c) {
		if !d.failed(e.Key) {
			errs = append(errs, e)
		}
	}
	errs = append(errs, readSecrets(c, errs)...)
	if len(errs) > 0 {
		return nil, &errs
	}
	return c, nil
}

// decoder walks the YAML node tree and the Config struct together instead of
// using yaml.Unmarshal, which stops at the first error and cannot name the key
// path of what it rejects.
type decoder struct {
	errs Errors
	// broken holds the keys whose value could not be decoded, so validation
	// does not pile a second, misleading error onto them.
	broken []string
}

// document decodes data into v. It reports false when the YAML itself cannot
// be parsed, as nothing in it can then be trusted.
func (d *decoder) document(data []byte, v reflect.Value) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return true
		}
		d.errs.add("", err.Error())
		return false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		d.errs.add("", err.Error())
		return false
	default:
		// Silently using only the first document would hide half the file.
		d.errs.add("", fmt.Sprintf("more than one YAML document (line %d)", extra.Line))
	}
	if len(doc.Content) == 0 {
		return true
	}
	d.value("", doc.Content[0], v)
	return true
}

func (d *decoder) failed(key string) bool {
	for _, b := range d.broken {
		if covers(b, key) {
			return true
		}
	}
	return false
}

// fail records a value that could not be decoded; the field keeps its default.
func (d *decoder) fail(key string, n *yaml.Node, format string, args ...any) {
	d.errs.add(key, fmt.Sprintf(format, args...)+fmt.Sprintf(" (line %d)", n.Line))
	d.broken = append(d.broken, key)
}

func (d *decoder) value(key string, n *yaml.Node, v reflect.Value) {
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	// Before the null check, unlike yaml.v3: a Secret rejects even an empty
	// inline value, since whoever wrote the key meant to put a secret there.
	if reflect.PointerTo(v.Type()).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		d.unmarshaler(key, n, v)
		return
	}
	if isNull(n) {
		// An empty section keeps its defaults (its keys are probably commented
		// out); an empty leaf means the zero value, as yaml.v3 does.
		if v.Kind() != reflect.Struct {
			v.SetZero()
		}
		return
	}
	if v.Type() == reflect.TypeFor[time.Duration]() {
		d.duration(key, n, v)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(key, n, v)
	case reflect.Slice:
		d.sequence(key, n, v)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(key, n, "expected a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		// Only true and false: YAML 1.1's yes/no/on/off are too easy to write
		// by accident (a country code "no", a value "on").
		d.scalar(key, n, v, "bool", "!!bool")
	case reflect.Int:
		// Requiring !!int keeps yaml.v3 from truncating 1.5 to 1.
		d.scalar(key, n, v, "int", "!!int")
	case reflect.Float64:
		d.scalar(key, n, v, "number", "!!int", "!!float")
	default:
		panic(fmt.Sprintf("config: no decoder for %s (%s)", key, v.Type()))
	}
}

func (d *decoder) mapping(key string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.fail(key, n, "expected a mapping, got %s", describe(n))
		return
	}
	fields := fieldIndex(v.Type())
	seen := make(map[string]int, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errs.add(key, fmt.Sprintf("keys must be plain strings, got %s (line %d)", describe(k), k.Line))
			continue
		}
		child := joinKey(key, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.errs.add(child, fmt.Sprintf("duplicate key, first set on line %d (line %d)", first, k.Line))
			continue
		}
		seen[k.Value] = k.Line
		idx, ok := fields[k.Value]
		if !ok {
			d.errs.add(child, fmt.Sprintf("unknown key (line %d)", k.Line))
			continue
		}
		d.value(child, val, v.Field(idx))
	}
}

func (d *decoder) sequence(key string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.fail(key, n, "expected a list, got %s", describe(n))
		return
	}
	if len(n.Content) == 0 {
		// [] and an absent key mean the same; nil keeps them equal.
		v.SetZero()
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, e := range n.Content {
		d.value(fmt.Sprintf("%s[%d]", key, i), e, s.Index(i))
	}
	v.Set(s)
}

// scalar decodes n into v when n's resolved tag is one of tags.
func (d *decoder) scalar(key string, n *yaml.Node, v reflect.Value, what string, tags ...string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(key, n, "expected %s, got %s", what, describe(n))
		return
	}
	tagOK := false
	for _, t := range tags {
		tagOK = tagOK || n.ShortTag() == t
	}
	if !tagOK || n.Decode(v.Addr().Interface()) != nil {
		d.fail(key, n, "cannot parse %q as %s", n.Value, what)
	}
}

func (d *decoder) duration(key string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.fail(key, n, "expected a duration, got %s", describe(n))
		return
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		d.fail(key, n, "cannot parse %q as a duration such as 30s or 24h", n.Value)
		return
	}
	v.SetInt(int64(dur))
}

func (d *decoder) unmarshaler(key string, n *yaml.Node, v reflect.Value) {
	err := v.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n)
	switch {
	case err == nil:
	case errors.As(err, new(inlineSecretError)):
		d.fail(key, n, "secrets are not accepted inline; use %s_file", key)
	default:
		d.fail(key, n, "%v", err)
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "a YAML node of kind " + strconv.Itoa(int(n.Kind))
}

// fieldIndex maps the yaml key of each field of struct type t to its index.
func fieldIndex(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if name, ok := yamlName(t.Field(i)); ok {
			m[name] = i
		}
	}
	return m
}

// yamlName is the key of f as yaml.v3 would spell it.
func yamlName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return "", false
	case "":
		return strings.ToLower(f.Name), true
	}
	return name, true
}

// joinKey appends name to the key path, quoting names that could make the
// path ambiguous or garble a terminal (they come from the file, not from us).
func joinKey(parent, name string) string {
	if !plainKey(name) {
		name = strconv.Quote(name)
	}
	if parent == "" {
		return name
	}
	return parent + "." + name
}

func plainKey(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
