package ldapgal

import (
	"bytes"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// cryptobyteModify is appendModify as cryptobyte encodes it, each length
// written once its content is known: the reference the sizes appendModify
// computes up front are checked against.
func cryptobyteModify(id int64, dn string, changes []change, a assertionValue) []byte {
	str := func(m *cryptobyte.Builder, s string) {
		m.AddASN1(asn1.OCTET_STRING, func(m *cryptobyte.Builder) { m.AddBytes([]byte(s)) })
	}
	m := cryptobyte.NewBuilder(nil)
	m.AddASN1(asn1.SEQUENCE, func(m *cryptobyte.Builder) {
		m.AddASN1Int64(id)
		m.AddASN1(asn1.Tag(ldap.ApplicationModifyRequest).Constructed()|0x40, func(m *cryptobyte.Builder) {
			str(m, dn)
			m.AddASN1(asn1.SEQUENCE, func(m *cryptobyte.Builder) {
				for _, ch := range changes {
					m.AddASN1(asn1.SEQUENCE, func(m *cryptobyte.Builder) {
						m.AddASN1(asn1.ENUM, func(m *cryptobyte.Builder) { m.AddUint8(uint8(ch.op)) })
						m.AddASN1(asn1.SEQUENCE, func(m *cryptobyte.Builder) {
							str(m, ch.attr)
							m.AddASN1(asn1.SET, func(m *cryptobyte.Builder) {
								for _, v := range ch.values {
									m.AddASN1OctetString(v)
								}
							})
						})
					})
				}
			})
		})
		if a.attr != "" {
			m.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), func(m *cryptobyte.Builder) {
				m.AddASN1(asn1.SEQUENCE, func(m *cryptobyte.Builder) {
					str(m, controlTypeAssertion)
					m.AddASN1(asn1.BOOLEAN, func(m *cryptobyte.Builder) { m.AddUint8(0xff) })
					m.AddASN1(asn1.OCTET_STRING, func(m *cryptobyte.Builder) {
						m.AddASN1(asn1.Tag(3).Constructed().ContextSpecific(), func(m *cryptobyte.Builder) {
							str(m, a.attr)
							str(m, a.value)
						})
					})
				})
			})
		}
	})
	return m.BytesOrPanic()
}

// modifyShapes are modifies whose elements cross each length form: short
// (under 128 bytes), one length byte, two, three.
func modifyShapes() []struct {
	dn      string
	changes []change
	a       assertionValue
} {
	var values [][]byte
	for _, n := range []int{0, 1, 127, 128, 255, 256, 1500, 65535, 65536, 70000} {
		values = append(values, bytes.Repeat([]byte{0xa5}, n))
	}
	csn := assertionValue{attr: "entryCSN", value: "20260101000000.000000Z#000000#000#000000"}
	long := assertionValue{attr: "uSNChanged", value: strings.Repeat("9", 130)}
	type shape = struct {
		dn      string
		changes []change
		a       assertionValue
	}
	var out []shape
	for _, dn := range []string{"", "uid=a,dc=example", "cn=" + strings.Repeat("x", 300) + ",dc=example"} {
		for i, v := range values {
			out = append(out,
				shape{dn, []change{{ldap.AddAttribute, "userCertificate;binary", [][]byte{v}}}, assertionValue{}},
				shape{dn, []change{
					{ldap.DeleteAttribute, "userCertificate", [][]byte{v, values[len(values)-1-i]}},
					{ldap.AddAttribute, "userCertificate", [][]byte{v}},
					{ldap.ReplaceAttribute, "userSMIMECertificate", [][]byte{}},
				}, csn},
				shape{dn, []change{{ldap.ReplaceAttribute, "userSMIMECertificate", values[:i]}}, long},
			)
		}
		out = append(out, shape{dn, nil, assertionValue{}})
	}
	return out
}

// TestModifyRequestIsCryptobytes: appendModify writes the bytes cryptobyte
// writes for the same message, for every message ID size and every length
// form, after whatever the buffer held.
func TestModifyRequestIsCryptobytes(t *testing.T) {
	for _, s := range modifyShapes() {
		for _, id := range []int64{0, 1, 127, 128, 255, 256, 32767, 32768, 1<<31 - 1, 1 << 40, -1, -129} {
			want := cryptobyteModify(id, s.dn, s.changes, s.a)
			got := appendModify([]byte("held"), id, s.dn, s.changes, s.a)
			if !bytes.Equal(got[4:], want) || string(got[:4]) != "held" {
				t.Fatalf("id %d, dn of %d bytes, %d changes, assertion %q: %d bytes, want cryptobyte's %d",
					id, len(s.dn), len(s.changes), s.a.attr, len(got)-4, len(want))
			}
		}
	}
}

// TestModifyRequestAllocatesNothing: into a buffer that has grown to the
// message's size, the encoding allocates nothing (a renewal writes 10,000).
func TestModifyRequestAllocatesNothing(t *testing.T) {
	s := modifyShapes()[4]
	buf := appendModify(nil, 1, s.dn, s.changes, s.a)
	if n := testing.AllocsPerRun(100, func() { buf = appendModify(buf[:0], 1, s.dn, s.changes, s.a) }); n != 0 {
		t.Errorf("%v allocations per modify, want none", n)
	}
}

// FuzzModifyRequest: any modify appendModify encodes is cryptobyte's encoding of it.
func FuzzModifyRequest(f *testing.F) {
	f.Add(int64(5), "uid=a,dc=example", uint8(0), "userCertificate", []byte("\x30\x03\x02\x01\x05"), 1, "", "")
	f.Add(int64(128), strings.Repeat("x", 200), uint8(1), "userCertificate;binary", bytes.Repeat([]byte{1}, 300), 3, "entryCSN", "20260101000000.000000Z#000000#000#000000")
	f.Add(int64(1<<31-1), "", uint8(2), "", []byte{}, 0, "a", strings.Repeat("v", 200))
	f.Fuzz(func(t *testing.T, id int64, dn string, op uint8, attr string, v []byte, n int, aAttr, aValue string) {
		n = min(max(n, 0), 8)
		ch := change{uint(op % 3), attr, make([][]byte, n)}
		for i := range ch.values {
			ch.values[i] = v[:len(v)*i/max(n, 1)]
		}
		changes := []change{ch, {ldap.AddAttribute, attr, [][]byte{v}}}
		a := assertionValue{aAttr, aValue}
		if got, want := appendModify(nil, id, dn, changes, a), cryptobyteModify(id, dn, changes, a); !bytes.Equal(got, want) {
			t.Fatalf("%x\nwant cryptobyte's\n%x", got, want)
		}
	})
}
