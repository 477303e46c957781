package ldapgal

import (
	"github.com/go-ldap/ldap/v3"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
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
// cryptobyte writes each length once its content is known, in its shortest
// form, in the one buffer.
func appendModify(b []byte, id int64, dn string, changes []change, a assertionValue) []byte {
	m := cryptobyte.NewBuilder(b)
	m.AddASN1(asn1.SEQUENCE, func(m *cryptobyte.Builder) {
		m.AddASN1Int64(id)
		m.AddASN1(asn1.Tag(ldap.ApplicationModifyRequest).Constructed()|classApplication, func(m *cryptobyte.Builder) {
			addString(m, dn)
			m.AddASN1(asn1.SEQUENCE, func(m *cryptobyte.Builder) {
				for _, ch := range changes {
					addChange(m, ch)
				}
			})
		})
		if a.attr != "" {
			m.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), func(m *cryptobyte.Builder) { // [0] Controls
				addAssertion(m, a)
			})
		}
	})
	return m.BytesOrPanic()
}

// classApplication is the APPLICATION class of a BER tag, which cryptobyte's
// asn1 package has no method for.
const classApplication = 0x40

// addChange adds one change: its operation (ENUMERATED), then the attribute
// and its set of values.
func addChange(m *cryptobyte.Builder, ch change) {
	m.AddASN1(asn1.SEQUENCE, func(m *cryptobyte.Builder) {
		m.AddASN1(asn1.ENUM, func(m *cryptobyte.Builder) { m.AddUint8(uint8(ch.op)) })
		m.AddASN1(asn1.SEQUENCE, func(m *cryptobyte.Builder) {
			addString(m, ch.attr)
			m.AddASN1(asn1.SET, func(m *cryptobyte.Builder) {
				for _, v := range ch.values {
					m.AddASN1OctetString(v)
				}
			})
		})
	})
}

// addAssertion adds the Control of a critical Assertion that a holds. Its
// value is the BER encoding of the filter (attr=value): [3] equalityMatch.
func addAssertion(m *cryptobyte.Builder, a assertionValue) {
	m.AddASN1(asn1.SEQUENCE, func(m *cryptobyte.Builder) {
		addString(m, controlTypeAssertion)
		m.AddASN1(asn1.BOOLEAN, func(m *cryptobyte.Builder) { m.AddUint8(0xff) }) // criticality TRUE
		m.AddASN1(asn1.OCTET_STRING, func(m *cryptobyte.Builder) {
			m.AddASN1(asn1.Tag(3).Constructed().ContextSpecific(), func(m *cryptobyte.Builder) {
				addString(m, a.attr)
				addString(m, a.value)
			})
		})
	})
}

// addString adds s as an OCTET STRING (an LDAPString, an LDAPDN).
func addString(m *cryptobyte.Builder, s string) {
	m.AddASN1(asn1.OCTET_STRING, func(m *cryptobyte.Builder) { m.AddBytes([]byte(s)) })
}
