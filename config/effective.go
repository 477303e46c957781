package config

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Effective returns the configuration as YAML with every default filled in,
// for `certgal check-config`. Secrets print as <secret>, and only when one was
// loaded; durations print as they are written ("24h", not "24h0m0s").
func (c *Config) Effective() ([]byte, error) {
	n, err := encode(reflect.ValueOf(c).Elem())
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// encode builds the node tree by hand rather than with yaml.Marshal, which
// has no say over how time.Duration is printed.
func encode(v reflect.Value) (*yaml.Node, error) {
	if m, ok := v.Interface().(yaml.Marshaler); ok {
		out, err := m.MarshalYAML()
		if err != nil {
			return nil, err
		}
		return scalarNode(out)
	}
	if d, ok := v.Interface().(time.Duration); ok {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: formatDuration(d)}, nil
	}
	switch v.Kind() {
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name, ok := yamlName(f)
			if !ok || (omitEmpty(f) && v.Field(i).IsZero()) {
				continue
			}
			val, err := encode(v.Field(i))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, val)
		}
		return n, nil
	case reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := range v.Len() {
			val, err := encode(v.Index(i))
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, val)
		}
		return n, nil
	}
	return scalarNode(v.Interface())
}

// scalarNode lets yaml.v3 pick tag and quoting, so that a string such as
// "true" or ":8080" comes back as a string.
func scalarNode(v any) (*yaml.Node, error) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		return nil, err
	}
	return &n, nil
}

func omitEmpty(f reflect.StructField) bool {
	_, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	for o := range strings.SplitSeq(opts, ",") {
		if o == "omitempty" {
			return true
		}
	}
	return false
}

// formatDuration drops the zero minutes and seconds time.Duration.String
// appends ("24h0m0s"), as people write durations in a config file.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
