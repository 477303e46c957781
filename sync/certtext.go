package sync

import "encoding/binary"

// appendCertText appends a Cert's text for serial and emails to b.
func appendCertText(b []byte, serial string, emails []string) []byte {
	b = append(binary.AppendUvarint(b, uint64(len(serial))), serial...)
	for _, e := range emails {
		b = append(binary.AppendUvarint(b, uint64(len(e))), e...)
	}
	return b
}

// certText is a Cert's text for serial and emails, made on its own.
func certText(serial string, emails ...string) string {
	return string(appendCertText(nil, serial, emails))
}

// cutText splits the string at the start of a Cert's text from the rest. A
// text is made by appendCertText or checked by validText: it does not fail.
func cutText(t string) (s, rest string) {
	n, k := uvarintString(t)
	if k <= 0 || n > uint64(len(t)-k) {
		return "", ""
	}
	return t[k : k+int(n)], t[k+int(n):]
}

// validText reports whether t is a Cert's text: a serial and addresses,
// each whole.
func validText(t string) bool {
	for first := true; first || t != ""; first = false {
		n, k := uvarintString(t)
		if k <= 0 || n > uint64(len(t)-k) {
			return false
		}
		t = t[k+int(n):]
	}
	return true
}

// uvarintString is binary.Uvarint of a string, which it does not copy.
func uvarintString(s string) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < len(s) && i < binary.MaxVarintLen64; i++ {
		b := s[i]
		if b < 0x80 {
			if i == binary.MaxVarintLen64-1 && b > 1 {
				return 0, -(i + 1)
			}
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
	return 0, 0
}
