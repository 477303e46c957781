package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds Load arbitrary files: it must never panic, and must return
// either a config or an *Errors, never both and never neither.
func FuzzLoad(f *testing.F) {
	seeds, err := filepath.Glob("../testdata/config/*/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Add([]byte("directory: &d {timeout: 1s}\nlookup: *d\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Load(data)
		if err != nil {
			var errs *Errors
			if !errors.As(err, &errs) || len(*errs) == 0 {
				t.Fatalf("Load error %T %q is not a non-empty *Errors", err, err)
			}
			if c != nil {
				t.Fatal("Load returned a config and an error")
			}
			return
		}
		if c == nil {
			t.Fatal("Load returned neither config nor error")
		}
		if _, err := c.Effective(); err != nil {
			t.Fatalf("Effective: %v", err)
		}
	})
}
