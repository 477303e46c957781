package lookup

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"strings"
	"testing"
)

// rdn is one RDN of single attributes 2.5.4.arc, each a value of the tag.
func rdn(tag int, arcsValues ...any) []pkix.AttributeTypeAndValue {
	var set []pkix.AttributeTypeAndValue
	for i := 0; i < len(arcsValues); i += 2 {
		set = append(set, pkix.AttributeTypeAndValue{
			Type:  asn1.ObjectIdentifier{2, 5, 4, arcsValues[i].(int)},
			Value: asn1.RawValue{Tag: tag, Bytes: []byte(arcsValues[i+1].(string))},
		})
	}
	return set
}

// readDN and appendTo write a Name as readName does (pkix.Name's String), or leave it to it.
func TestDNIsPkixNames(t *testing.T) {
	const ps, utf, ia5 = asn1.TagPrintableString, asn1.TagUTF8String, asn1.TagIA5String
	many := pkix.RDNSequence{}
	for range maxDNAttrs + 1 {
		many = append(many, rdn(utf, 11, "unit"))
	}
	email := pkix.RDNSequence{{{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: "a@b"}}}
	for _, tc := range []struct {
		name string
		rdns pkix.RDNSequence
		dn   bool // readDN reads it
	}{
		{"empty", pkix.RDNSequence{}, true},
		{"bench", pkix.RDNSequence{rdn(utf, 10, "Example Corp"), rdn(utf, 11, "Staff"), rdn(utf, 3, "user002627")}, true},
		{"every type", pkix.RDNSequence{rdn(ps, 6, "DE"), rdn(utf, 8, "Bayern"), rdn(utf, 7, "München"), rdn(utf, 9, "Straße 1"),
			rdn(ps, 17, "80331"), rdn(utf, 10, "Corp"), rdn(utf, 11, "A"), rdn(utf, 11, "B"), rdn(utf, 3, "Jürgen"), rdn(ps, 5, "42")}, true},
		{"reversed", pkix.RDNSequence{rdn(ps, 5, "42"), rdn(utf, 3, "cn"), rdn(utf, 11, "ou"), rdn(utf, 10, "o"), rdn(ps, 6, "C")}, true},
		{"multi-valued", pkix.RDNSequence{rdn(utf, 3, "carol", 10, "Corp", 11, "x"), rdn(utf, 10, "Second")}, true},
		{"last CN wins", pkix.RDNSequence{rdn(utf, 3, "first"), rdn(utf, 3, "second")}, true},
		{"last CN empty", pkix.RDNSequence{rdn(utf, 3, "first"), rdn(utf, 3, "")}, true},
		{"empty O", pkix.RDNSequence{rdn(utf, 10, ""), rdn(utf, 3, "x")}, true},
		{"escapes", pkix.RDNSequence{rdn(utf, 3, `#a,b+c"d\e<f>g;h #`), rdn(utf, 10, " lead"), rdn(utf, 10, "trail "), rdn(utf, 11, " "), rdn(utf, 11, "#")}, true},
		{"json escapes", pkix.RDNSequence{rdn(utf, 3, "a&b\u2028\x01\x7f</script>")}, true},
		{"ia5", pkix.RDNSequence{rdn(ia5, 3, "ia5 value")}, true},
		{"printable * and &", pkix.RDNSequence{rdn(ps, 3, "*.corp & co")}, true},
		{"empty set", pkix.RDNSequence{{}, rdn(utf, 3, "x")}, true},
		{"surname", pkix.RDNSequence{rdn(utf, 4, "Smith"), rdn(utf, 3, "x")}, false},
		{"emailAddress", append(email, rdn(utf, 3, "x")), false},
		{"T61String", pkix.RDNSequence{rdn(asn1.TagT61String, 3, "caf\xe9")}, false},
		{"bad UTF-8", pkix.RDNSequence{rdn(utf, 3, "\xff")}, false},
		{"bad PrintableString", pkix.RDNSequence{rdn(ps, 3, "a@b")}, false},
		{"bad IA5String", pkix.RDNSequence{rdn(ia5, 3, "é")}, false},
		{"too many", many, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := asn1.Marshal(tc.rdns)
			if err != nil {
				t.Fatal(err)
			}
			var d dn
			if got := readDN(raw, &d); got != tc.dn {
				t.Fatalf("readDN read it: %v, want %v", got, tc.dn)
			}
			if tc.dn {
				sameDN(t, raw)
			}
		})
	}
}

// sameDN checks that readDN reads raw as readName does, when it reads it.
func sameDN(t *testing.T, raw []byte) {
	t.Helper()
	var d dn
	if !readDN(raw, &d) {
		return
	}
	var want string
	if !readName(raw, &want) {
		t.Fatalf("readDN read %x, readName did not", raw)
	}
	if got := string(d.appendTo([]byte("kept"))); got != "kept"+want {
		t.Fatalf("readDN wrote %q, pkix.Name %q", strings.TrimPrefix(got, "kept"), want)
	}
}

// FuzzDN: whatever Name readDN reads, it writes as pkix.Name's String does.
func FuzzDN(f *testing.F) {
	for _, rdns := range []pkix.RDNSequence{
		{rdn(asn1.TagUTF8String, 10, "Example Corp"), rdn(asn1.TagUTF8String, 11, "Staff"), rdn(asn1.TagUTF8String, 3, "user002627")},
		{rdn(asn1.TagPrintableString, 3, "a", 3, "b", 11, " c "), rdn(asn1.TagIA5String, 5, "#1")},
	} {
		raw, err := asn1.Marshal(rdns)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(sameDN)
}
