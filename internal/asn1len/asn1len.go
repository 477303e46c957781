// Package asn1len writes the length octets of an ASN.1 element in their
// definite, shortest form (X.690 8.1.3, DER's), for the encoders that know
// every length before they write the content: ldapgal's modifies and the
// lookup's PKCS #7 bundles. encoding/asn1 and cryptobyte write a length
// after its content, through a builder per element; on those hot paths that
// was the garbage (docs/BENCHMARKS.md, "The writes in the renewal pass").
package asn1len

// Size is how many octets the length n takes: one up to 127, else one more
// than the octets of n.
func Size(n int) int {
	if n < 0x80 {
		return 1
	}
	k := 1
	for ; n > 0xff; n >>= 8 {
		k++
	}
	return 1 + k
}

// Append appends the length octets of n to b.
func Append(b []byte, n int) []byte {
	if n < 0x80 {
		return append(b, byte(n))
	}
	k := Size(n) - 1
	b = append(b, 0x80|byte(k))
	for i := k - 1; i >= 0; i-- {
		b = append(b, byte(n>>(8*i)))
	}
	return b
}
