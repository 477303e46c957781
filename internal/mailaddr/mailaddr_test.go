package mailaddr

import "testing"

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"alice@corp.example", "alice@corp.example"},
		{"Alice@Corp.EXAMPLE", "alice@corp.example"},
		{"SMTP:Alice@corp.example", "alice@corp.example"},
		{"smtp:alice@corp.example", "alice@corp.example"},
		{"X500:/o=corp/cn=alice", ""},
		{"ſmtp:alice@corp.example", ""},
		{"sip:alice@corp.example", ""},
		{"alice", ""},
		{"@corp.example", ""},
		{"alice@", ""},
		{"a@b@c", ""},
		// IDNA: a Unicode domain meets its A-label; the local part stays exact.
		{"ann@bücher.example", "ann@xn--bcher-kva.example"},
		{"ann@BÜCHER.example", "ann@xn--bcher-kva.example"},
		{"ann@xn--bcher-kva.example", "ann@xn--bcher-kva.example"},
		{"ann@XN--BCHER-KVA.example", "ann@xn--bcher-kva.example"},
		{"Ännchen@corp.example", "Ännchen@corp.example"},
		{"ännchen@corp.example", "ännchen@corp.example"},
		// A look-alike (Cyrillic а) is another A-label, never the ASCII domain.
		{"ann@exаmple.com", "ann@xn--exmple-4nf.com"},
		// A domain IDNA refuses keeps its bytes and matches only itself.
		{"ann@a\u200db.example", "ann@a\u200db.example"},
		{"alice@corp.example*()\\", "alice@corp.example*()\\"},
	} {
		if got := Normalize(tc.in); got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestASCIILower(t *testing.T) {
	for in, want := range map[string]string{"": "", "abc": "abc", "ABC": "abc", "aBc": "abc", "ÄBC": "Äbc", "K": "k"} {
		if got := ASCIILower(in); got != want {
			t.Errorf("ASCIILower(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"alice@corp.example", "SMTP:a@b", "ann@bücher.example", "a@xn--", "@", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if n != "" && Normalize(n) != n {
			t.Errorf("Normalize is not idempotent: %q → %q → %q", s, n, Normalize(n))
		}
	})
}
