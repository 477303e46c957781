// Package mailaddr is the one way certgal compares e-mail addresses: the
// directory's (mail, proxyAddresses), a certificate's (SAN rfc822Name, or the
// subject's emailAddress) and a sender's lookup are all reduced to the same
// key before they meet.
package mailaddr

import (
	"strings"

	"golang.org/x/net/idna"
)

// Normalize returns the key address a is compared by, or "" when a is not
// a mail address. ASCII letters are folded, as AD and Exchange compare them;
// other bytes of the local part must match exactly. The domain is turned into
// its ASCII form (IDNA ToASCII, lookup profile), so a directory that stores
// "ann@bücher.example" matches a certificate for "ann@xn--bcher-kva.example"
// while a look-alike domain becomes a different A-label and never matches.
// A domain IDNA refuses keeps its bytes: it then matches only itself.
// proxyAddresses' "smtp:" prefix (either case) is stripped; other address
// types (X500:, SIP:, …) are not mail addresses and give "".
func Normalize(a string) string {
	if i := strings.IndexByte(a, ':'); i >= 0 && !strings.Contains(a[:i], "@") {
		// Not strings.EqualFold: it folds Unicode, and "ſmtp" is no smtp prefix.
		if ASCIILower(a[:i]) != "smtp" {
			return ""
		}
		a = a[i+1:]
	}
	return Key(a)
}

// Key is Normalize for an address without a type prefix (a sender's lookup,
// a certificate's): "" when a is not local@domain.
func Key(a string) string {
	at := strings.IndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || strings.IndexByte(a[at+1:], '@') >= 0 {
		return ""
	}
	if domain := a[at+1:]; !isASCII(domain) {
		if d, err := idna.Lookup.ToASCII(domain); err == nil && d != "" {
			a = a[:at+1] + d
		}
	}
	return ASCIILower(a)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// ASCIILower folds ASCII letters only; it allocates only when s has an upper-case letter.
func ASCIILower(s string) string {
	i := 0
	for i < len(s) && (s[i] < 'A' || s[i] > 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if c := b[i]; 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
