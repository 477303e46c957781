package lookup

import (
	"net/url"
	"strings"
	"testing"

	"github.com/certgal/certgal/internal/mailaddr"
)

// The parsers of what clients send. Seeds are in testdata/fuzz; `make fuzz` runs them longer.

func FuzzParseSearch(f *testing.F) {
	for _, s := range []string{"", "email=alice@corp.example", "certHash=2jmj7l5rSw0yVb/vlWAYkK/YBwk",
		"sHash=2jmj7l5rSw0yVb%2FvlWAYkK%2FYBwk", "iHash=a&sHash=b", "uri=mailto:a@b", "certHash=%zz",
		"certHash=2jmj7l5rSw0yVb/vlWAYkK/YBwk=", "sKIDHash=+++++++++++++++++++++++++++"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseSearch(raw)
		if err != nil {
			return
		}
		if strings.Contains(raw, "&") {
			t.Fatalf("%q: two parameters accepted", raw)
		}
		if q.byKey {
			_, v, _ := strings.Cut(raw, "=")
			if v, _ = url.PathUnescape(v); SearchKey(q.hash) != v {
				t.Fatalf("%q: key %s is not the value", raw, SearchKey(q.hash))
			}
		} else if !plausibleAddress(q.email) {
			t.Fatalf("%q: address %q accepted", raw, q.email)
		}
	})
}

func FuzzCertsFormat(f *testing.F) {
	f.Add("", "")
	f.Add("format=pem", "")
	f.Add("format=json&format=der", "")
	f.Add("", "application/json;q=0.5, application/x-pem-file")
	f.Add("_=1", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
	f.Add("", "*/*;q=0")
	f.Add("", "application/*;q=0.2;level=1, ,;")
	f.Fuzz(func(t *testing.T, query, accept string) {
		got, err := certsFormat(query, accept)
		if err == nil && (got < 0 || got >= numFormats) {
			t.Fatalf("format %d", got)
		}
		if query == "" && strings.TrimSpace(accept) == "" && (err != nil || got != fmtDER) {
			t.Fatalf("no preference gives %d, %v", got, err)
		}
	})
}

func FuzzEtagMatches(f *testing.F) {
	f.Add(`"abc.d"`, `"abc.d"`)
	f.Add(`W/"abc.d", "x"`, `"abc.d"`)
	f.Add(`*`, `"abc.d"`)
	f.Add(`"a`, `"a"`)
	f.Add(`,,, "x" ,W/`, `"x"`)
	f.Fuzz(func(t *testing.T, header, etag string) {
		m := etagMatches(header, etag)
		if header == etag && strings.HasPrefix(etag, `"`) && strings.Count(etag, `"`) == 2 && strings.HasSuffix(etag, `"`) && !m {
			t.Fatalf("%q does not match itself", etag)
		}
	})
}

func FuzzPlausibleAddress(f *testing.F) {
	for _, s := range []string{"alice@corp.example", "a@b", "@b", "a@", "a@b@c", "a b@c", strings.Repeat("a", 300) + "@b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, a string) {
		if plausibleAddress(a) && (strings.Count(a, "@") != 1 || len(a) > maxAddressLen || strings.ContainsAny(a, " \t\r\n")) {
			t.Fatalf("%q accepted", a)
		}
		if l := mailaddr.ASCIILower(a); len(l) != len(a) || strings.ToLower(l) != strings.ToLower(a) && isASCII(a) {
			t.Fatalf("ASCIILower(%q) = %q", a, l)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
