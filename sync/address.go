package sync

import "strings"

// normalizeAddress turns a directory address or a certificate's rfc822Name into
// the form addresses are compared in. Only ASCII letters are folded, as AD and
// Exchange compare them; any other byte must match exactly, so a look-alike
// or differently encoded domain never matches. proxyAddresses' "smtp:" prefix
// (either case) is stripped; other address types (X500:, SIP:, …) are not mail
// addresses and give "".
func normalizeAddress(a string) string {
	if i := strings.IndexByte(a, ':'); i >= 0 && !strings.Contains(a[:i], "@") {
		// Not strings.EqualFold: it folds Unicode, and "ſmtp" is no smtp prefix.
		if asciiLower(a[:i]) != "smtp" {
			return ""
		}
		a = a[i+1:]
	}
	if strings.Count(a, "@") != 1 || strings.HasPrefix(a, "@") || strings.HasSuffix(a, "@") {
		return ""
	}
	return asciiLower(a)
}

func asciiLower(s string) string {
	i := 0
	for i < len(s) && (s[i] < 'A' || s[i] > 'Z') {
		i++
	}
	if i == len(s) {
		return s // most addresses are lower case already: no copy
	}
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
