package sync

import (
	"strings"
	"testing"
)

func TestNormalizeAddress(t *testing.T) {
	tests := []struct{ in, want string }{
		{"alice@corp.example", "alice@corp.example"},
		{"Alice@Corp.EXAMPLE", "alice@corp.example"},
		{"SMTP:Alice@corp.example", "alice@corp.example"},
		{"smtp:al@corp.example", "al@corp.example"},
		{"SmTp:al@corp.example", "al@corp.example"},
		{"X500:/o=Corp/ou=Exchange/cn=alice", ""},
		{"SIP:alice@corp.example", ""},
		{"\u017fmtp:alice@corp.example", ""}, // long s folds to s in Unicode, not here
		{"JOSÉ@corp.example", "josÉ@corp.example"},
		{"jos\u00e9@corp.example", "jos\u00e9@corp.example"},
		{"jose\u0301@corp.example", "jose\u0301@corp.example"},
		{"alice@corp.\u0435xample", "alice@corp.\u0435xample"},
		{"ALICE@CORP.\u0415XAMPLE", "alice@corp.\u0415xample"},
		{"no-at-sign", ""},
		{"@corp.example", ""},
		{"alice@", ""},
		{"a@b@corp.example", ""},
		{`*)(uid=*))(|(uid=*\@corp.example`, `*)(uid=*))(|(uid=*\@corp.example`},
	}
	for _, tc := range tests {
		if got := normalizeAddress(tc.in); got != tc.want {
			t.Errorf("normalizeAddress(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{"alice@corp.example", "SMTP:A@b", "X500:/o=x", "JOSÉ@x", "ſmtp:a@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := normalizeAddress(s)
		if len(n) > len(s) {
			t.Fatalf("grew: %q -> %q", s, n)
		}
		if n != "" && n != asciiLower(n) {
			t.Fatalf("ASCII upper case left in %q", n)
		}
		if n != "" && strings.Count(n, "@") != 1 {
			t.Fatalf("%q is not one address", n)
		}
	})
}
