package config

import "gopkg.in/yaml.v3"

// Secret is a value read from a *_file key. It never leaves the process in
// printed or marshalled form, so that check-config output and logs can be
// shared without leaking credentials.
type Secret string

// inlineSecretError keeps secrets out of configuration files, which tend to
// be world-readable, checked in, or pasted into tickets. It is a type rather
// than a variable so that the package holds no mutable state.
type inlineSecretError struct{}

func (inlineSecretError) Error() string {
	return "secrets are not accepted inline; use the matching *_file key"
}

// String hides the value from fmt and logrus.
func (s Secret) String() string { return "<secret>" }

// GoString hides the value from %#v as well.
func (s Secret) GoString() string { return `"<secret>"` }

// MarshalYAML prints a set secret as <secret>; an unset one stays empty so
// that omitempty drops it.
func (s Secret) MarshalYAML() (any, error) {
	if s == "" {
		return "", nil
	}
	return "<secret>", nil
}

// UnmarshalYAML always fails: secrets come only from their *_file key.
func (s *Secret) UnmarshalYAML(*yaml.Node) error {
	return inlineSecretError{}
}
