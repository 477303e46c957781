package testserver

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Fatalf and Skipf instead of ending the test.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func (r *recorder) Skipf(format string, args ...any) { r.skip = fmt.Sprintf(format, args...) }

// A missing server fails the test under CI=true, and skips it anywhere else, saying why.
func TestUnavailable(t *testing.T) {
	for _, tt := range []struct {
		ci    string
		fails bool
	}{
		{"true", true},
		{"", false},
		{"1", false},
		{"false", false},
	} {
		t.Run("CI="+tt.ci, func(t *testing.T) {
			t.Setenv("CI", tt.ci)
			r := &recorder{TB: t}
			Unavailable(r, "slapd is %s", "missing")
			if got := r.fatal != ""; got != tt.fails {
				t.Errorf("failed = %v (%q), want %v", got, r.fatal, tt.fails)
			}
			msg := r.skip
			if tt.fails {
				msg = r.fatal
			}
			if !strings.Contains(msg, "slapd is missing") {
				t.Errorf("message %q does not say what is missing", msg)
			}
		})
	}
}
