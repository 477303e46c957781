package config

import "strings"

// Error is one problem with a configuration, tied to the key it concerns.
type Error struct {
	// Key is the key path, such as "directory.timeout" or "trust.ca_files[1]";
	// it is empty for problems with the file as a whole (a YAML syntax error).
	Key string
	Msg string
}

func (e Error) Error() string {
	if e.Key == "" {
		return e.Msg
	}
	return e.Key + ": " + e.Msg
}

// Errors is every problem found in a configuration, so that a user fixes them
// in one round instead of one per run. Load returns it as *Errors.
type Errors []Error

// Error prints one "key: msg" per line: decoding problems in file order, then
// validation problems in field order.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es *Errors) add(key, msg string) {
	*es = append(*es, Error{Key: key, Msg: msg})
}

// covers reports whether a problem on key already explains a problem on
// other: the key itself or anything beneath it. The empty key is the whole
// document.
func covers(key, other string) bool {
	if key == "" {
		return true
	}
	if !strings.HasPrefix(other, key) {
		return false
	}
	rest := other[len(key):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}
