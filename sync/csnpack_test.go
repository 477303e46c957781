package sync

import "testing"

func TestPackCSN(t *testing.T) {
	for _, tc := range []struct {
		csn    string
		packed bool
	}{
		{"20261206000000.000001Z#000000#000#000000", true},
		{"20260720072314.123456Z#0a1b2c#fff#abcdef", true},
		{"99991231235959.999999Z#ffffff#fff#ffffff", true},
		{"", false},
		{"20261206000000.000001Z#00000A#000#000000", false}, // upper-case hex: kept as text
		{"2026120600000a.000001Z#000000#000#000000", false}, // hex where slapd writes decimal
		{"20261206000000.000001Z#000000#000#0000000", false},
		{"20261206000000.000001Z#000000#000#00000", false},
		{"20261206000000,000001Z#000000#000#000000", false},
		{"20261206000000.000001Z#000000#000;000000", false},
	} {
		p, ok := packCSN(tc.csn)
		if ok != tc.packed || p.packed() != tc.packed {
			t.Errorf("packCSN(%q) packed = %v, %v; want %v", tc.csn, ok, p.packed(), tc.packed)
			continue
		}
		if ok && p.String() != tc.csn {
			t.Errorf("packCSN(%q) gives back %q", tc.csn, p.String())
		}
	}
}

func FuzzPackCSN(f *testing.F) {
	f.Add("20261206000000.000001Z#000000#000#000000")
	f.Add("20260720072314.123456Z#0a1b2c#fff#abcdef")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		if p, ok := packCSN(s); ok && p.String() != s {
			t.Fatalf("packCSN(%q) gives back %q", s, p.String())
		}
	})
}
