package ldapgal

import (
	"github.com/go-ldap/ldap/v3"
)

// A pass writes thousands of modifies, each carrying certificates. go-ldap
// builds each request as a tree of packets and copies every value into each
// parent in turn, and once more to send it (docs/BENCHMARKS.md, "The writes:
// modifies encoded in place"). Here a modify is encoded straight into the
// connection's write buffer, the values copied once, from the caller's bytes.

// change is one change of a ModifyRequest (RFC 4511 4.6): op (ldap.AddAttribute,
// ldap.DeleteAttribute or ldap.ReplaceAttribute) on attr with values.
type change struct {
	op     uint
	attr   string
	values [][]byte
}

// assertionValue is an equality assertion (attr=value) for the Assertion
// control (RFC 4528); an empty attr means none.
type assertionValue struct {
	attr, value string
}

// appendModify appends the LDAPMessage of a ModifyRequest with message ID id
// to b: dn's changes, and a critical Assertion control when a.attr is set.
func appendModify(b []byte, id int64, dn string, changes []change, a assertionValue) []byte {
	body := tlvLen(len(dn)) + tlvLen(changesLen(changes))
	msg := intLen(id) + tlvLen(body)
	if a.attr != "" {
		msg += tlvLen(controlLen(a))
	}
	b = appendHead(b, 0x30, msg)
	b = appendInt(b, 0x02, id)
	b = appendHead(b, 0x60|ldap.ApplicationModifyRequest, body)
	b = appendString(b, 0x04, dn)
	b = appendHead(b, 0x30, changesLen(changes))
	for _, ch := range changes {
		b = appendHead(b, 0x30, changeLen(ch))
		b = append(b, 0x0a, 1, byte(ch.op)) // operation ENUMERATED
		b = appendHead(b, 0x30, attributeLen(ch))
		b = appendString(b, 0x04, ch.attr)
		b = appendHead(b, 0x31, valuesLen(ch.values))
		for _, v := range ch.values {
			b = appendHead(b, 0x04, len(v))
			b = append(b, v...)
		}
	}
	if a.attr != "" {
		b = appendHead(b, 0xa0, controlLen(a)) // [0] Controls
		b = appendAssertion(b, a)
	}
	return b
}

// appendAssertion appends the Control of a critical Assertion that a holds.
// Its value is the BER encoding of the filter (attr=value): [3] equalityMatch.
func appendAssertion(b []byte, a assertionValue) []byte {
	b = appendHead(b, 0x30, assertionLen(a))
	b = appendString(b, 0x04, controlTypeAssertion)
	b = append(b, 0x01, 1, 0xff) // criticality TRUE
	b = appendHead(b, 0x04, tlvLen(filterLen(a)))
	b = appendHead(b, 0xa3, filterLen(a))
	b = appendString(b, 0x04, a.attr)
	return appendString(b, 0x04, a.value)
}

// The lengths of the contents of the elements above, each encoded after its
// length: what appendHead needs before the content is written.

func changesLen(changes []change) int {
	n := 0
	for _, ch := range changes {
		n += tlvLen(changeLen(ch))
	}
	return n
}

func changeLen(ch change) int { return 3 + tlvLen(attributeLen(ch)) }

func attributeLen(ch change) int { return tlvLen(len(ch.attr)) + tlvLen(valuesLen(ch.values)) }

func valuesLen(values [][]byte) int {
	n := 0
	for _, v := range values {
		n += tlvLen(len(v))
	}
	return n
}

func controlLen(a assertionValue) int { return tlvLen(assertionLen(a)) }

func assertionLen(a assertionValue) int {
	return tlvLen(len(controlTypeAssertion)) + 3 + tlvLen(tlvLen(filterLen(a)))
}

func filterLen(a assertionValue) int { return tlvLen(len(a.attr)) + tlvLen(len(a.value)) }

// tlvLen is the size of an element whose content is n bytes long.
func tlvLen(n int) int { return 1 + lengthLen(n) + n }

// lengthLen is the size of the definite length n in its shortest form.
func lengthLen(n int) int {
	k := 1
	if n >= 0x80 {
		for ; n > 0; n >>= 8 {
			k++
		}
	}
	return k
}

// appendHead appends an element's tag and the length n of its content.
func appendHead(b []byte, tag byte, n int) []byte {
	b = append(b, tag)
	if n < 0x80 {
		return append(b, byte(n))
	}
	k := lengthLen(n) - 1
	b = append(b, 0x80|byte(k))
	for i := k - 1; i >= 0; i-- {
		b = append(b, byte(n>>(8*i)))
	}
	return b
}

func appendString(b []byte, tag byte, s string) []byte {
	return append(appendHead(b, tag, len(s)), s...)
}

// intLen is the size of the INTEGER element of v.
func intLen(v int64) int { return 2 + intBytes(v) }

// intBytes is how many bytes v takes in two's complement, at fewest.
func intBytes(v int64) int {
	n := 1
	for v > 127 || v < -128 {
		n++
		v >>= 8
	}
	return n
}

func appendInt(b []byte, tag byte, v int64) []byte {
	n := intBytes(v)
	b = append(b, tag, byte(n))
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}
