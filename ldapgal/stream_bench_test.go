package ldapgal

import (
	"bytes"
	"testing"
)

// BenchmarkStreamEntry decodes one typical entry (addresses, two
// certificates, a blob and, for OpenLDAP, the CSN) as Users does for every
// user: the allocations it reports are the streaming reader's cost per entry.
func BenchmarkStreamEntry(b *testing.B) {
	certs := [][]byte{bytes.Repeat([]byte{0x30}, 1200), bytes.Repeat([]byte{0x31}, 1200)}
	blob := [][]byte{bytes.Repeat([]byte{0x32}, 2400)}
	for _, tc := range []struct {
		dialect string
		attrs   map[string][][]byte
	}{
		{DialectAD, map[string][][]byte{
			"mail":                 {[]byte("alice@corp.example")},
			"proxyAddresses":       {[]byte("SMTP:alice@corp.example"), []byte("smtp:a@corp.example")},
			"userCertificate":      certs,
			"userSMIMECertificate": blob,
		}},
		{DialectOpenLDAP, map[string][][]byte{
			"mail":                   {[]byte("alice@corp.example")},
			"userCertificate;binary": certs,
			"userSMIMECertificate":   blob,
			"entryCSN":               {[]byte("20261206020000.000000Z#000000#000#000000")},
		}},
	} {
		b.Run(tc.dialect, func(b *testing.B) {
			c := testClientOf(tc.dialect)
			dn, attrs := entryParts(b, searchEntry(2, "CN=Alice Example,OU=People,DC=corp,DC=example", tc.attrs))
			var arena entryArena
			b.ReportAllocs()
			for b.Loop() {
				e, err := c.entries.fromStream(dn, attrs, &arena)
				if err != nil || len(e.Certificates) != 2 || len(e.SMIME) != 1 {
					b.Fatalf("%+v, %v", e, err)
				}
			}
		})
	}
}

// entryParts splits an encoded SearchResultEntry message as page does: the
// DN and the attribute list's content.
func entryParts(tb testing.TB, msg []byte) (dn, attrs []byte) {
	tb.Helper()
	_, content, _, err := tlv(msg)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := parseMessage(content)
	if err != nil {
		tb.Fatal(err)
	}
	_, dn, attrs, err = tlv(m.body)
	if err != nil {
		tb.Fatal(err)
	}
	if _, attrs, _, err = tlv(attrs); err != nil {
		tb.Fatal(err)
	}
	return dn, attrs
}
