package ldapgal

import (
	"slices"

	"github.com/go-ldap/ldap/v3"

	"github.com/certgal/certgal/internal/asn1len"
)

// A pass writes thousands of modifies, each carrying certificates. go-ldap
// builds each request as a tree of packets and copies every value into each
// parent in turn, and once more to send it (docs/BENCHMARKS.md, "The writes:
// modifies encoded in place"). Here a modify is encoded straight into the
// connection's write buffer, the values copied once, from the caller's bytes.
// Every length is known before its content is written (the sizes below), so
// the encoding allocates nothing once the buffer has grown: cryptobyte's
// nested builders, which write a length after its content, cost a child
// builder and a placeholder per element (docs/BENCHMARKS.md, "The writes in
// the renewal pass"). The tests check the bytes against go-ldap's encoding
// and against cryptobyte's.

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

// BER identifiers (X.690 8.1.2) of what a ModifyRequest holds.
const (
	tagBoolean     = 0x01
	tagInteger     = 0x02
	tagOctetString = 0x04
	tagEnumerated  = 0x0a
	tagSequence    = 0x30 // constructed
	tagSet         = 0x31 // constructed
	tagControls    = 0xa0 // [0] constructed, context-specific
	tagEquality    = 0xa3 // [3] constructed, context-specific: equalityMatch
	tagModify      = 0x60 | ldap.ApplicationModifyRequest
)

// appendModify appends the LDAPMessage of a ModifyRequest with message ID id
// to b: dn's changes, and a critical Assertion control when a.attr is set.
// Each length is in its shortest form (DER), as go-ldap and cryptobyte write it.
func appendModify(b []byte, id int64, dn string, changes []change, a assertionValue) []byte {
	list := 0
	for _, ch := range changes {
		list += tlvSize(changeSize(ch))
	}
	op := tlvSize(len(dn)) + tlvSize(list)
	msg := tlvSize(intSize(id)) + tlvSize(op)
	controls := 0
	if a.attr != "" {
		controls = tlvSize(assertionSize(a))
		msg += tlvSize(controls)
	}
	b = slices.Grow(b, tlvSize(msg))
	b = appendHeader(b, tagSequence, msg)
	b = appendInt(b, id)
	b = appendHeader(b, tagModify, op)
	b = appendString(b, dn)
	b = appendHeader(b, tagSequence, list)
	for _, ch := range changes {
		b = appendChange(b, ch)
	}
	if a.attr != "" {
		b = appendHeader(b, tagControls, controls)
		b = appendAssertion(b, a)
	}
	return b
}

// changeSize is the content length of a change's SEQUENCE: its operation
// (ENUMERATED), then the attribute and its SET of values.
func changeSize(ch change) int {
	return tlvSize(1) + tlvSize(attributeSize(ch))
}

func attributeSize(ch change) int {
	return tlvSize(len(ch.attr)) + tlvSize(valuesSize(ch.values))
}

func valuesSize(values [][]byte) int {
	n := 0
	for _, v := range values {
		n += tlvSize(len(v))
	}
	return n
}

func appendChange(b []byte, ch change) []byte {
	b = appendHeader(b, tagSequence, changeSize(ch))
	b = append(appendHeader(b, tagEnumerated, 1), uint8(ch.op))
	b = appendHeader(b, tagSequence, attributeSize(ch))
	b = appendString(b, ch.attr)
	b = appendHeader(b, tagSet, valuesSize(ch.values))
	for _, v := range ch.values {
		b = append(appendHeader(b, tagOctetString, len(v)), v...)
	}
	return b
}

// assertionSize is the content length of the Control of a critical
// Assertion: its type, criticality TRUE, and as its value the BER encoding
// of the filter (attr=value), [3] equalityMatch.
func assertionSize(a assertionValue) int {
	return tlvSize(len(controlTypeAssertion)) + tlvSize(1) + tlvSize(tlvSize(equalitySize(a)))
}

func equalitySize(a assertionValue) int {
	return tlvSize(len(a.attr)) + tlvSize(len(a.value))
}

func appendAssertion(b []byte, a assertionValue) []byte {
	b = appendHeader(b, tagSequence, assertionSize(a))
	b = appendString(b, controlTypeAssertion)
	b = append(appendHeader(b, tagBoolean, 1), 0xff)
	b = appendHeader(b, tagOctetString, tlvSize(equalitySize(a)))
	b = appendHeader(b, tagEquality, equalitySize(a))
	b = appendString(b, a.attr)
	return appendString(b, a.value)
}

// appendString appends s as an OCTET STRING (an LDAPString, an LDAPDN).
func appendString(b []byte, s string) []byte {
	return append(appendHeader(b, tagOctetString, len(s)), s...)
}

// intSize is the length of v's shortest two's-complement form.
func intSize(v int64) int {
	n := 1
	for ; v >= 0x80 || v < -0x80; v >>= 8 {
		n++
	}
	return n
}

// appendInt appends v as an INTEGER.
func appendInt(b []byte, v int64) []byte {
	n := intSize(v)
	b = appendHeader(b, tagInteger, n)
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// tlvSize is the size of an element whose content is n bytes long.
func tlvSize(n int) int {
	return 1 + asn1len.Size(n) + n
}

// appendHeader appends an element's identifier and the length n of its content.
func appendHeader(b []byte, tag byte, n int) []byte {
	return asn1len.Append(append(b, tag), n)
}
