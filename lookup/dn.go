package lookup

import (
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// A subject is unique to each certificate, and reading it into a pkix.Name and its String
// took most of what readFields allocated. A Name whose every attribute is one pkix.Name has a
// field for (2.5.4.x: C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER; certificates
// rarely have others) is written here, into the JSON fields, with no allocation; any other
// goes through pkix.Name (readName).

// dnTypes are the attribute types (the last arc of 2.5.4.x) in the order pkix.Name's String
// writes them, with their names: ToRDNSequence's order, reversed.
var dnTypes = [...]struct {
	arc  byte
	name string
	one  bool // a single value, the last one read, written only when not empty
}{
	{5, "SERIALNUMBER", true}, {3, "CN", true}, {11, "OU", false}, {10, "O", false},
	{17, "POSTALCODE", false}, {9, "STREET", false}, {7, "L", false}, {8, "ST", false}, {6, "C", false},
}

// maxDNAttrs is the most attributes a dn holds; a Name of more goes through pkix.Name.
const maxDNAttrs = 16

// dn is a Name's attributes as read, in the order of the encoding.
type dn struct {
	n     int
	attrs [maxDNAttrs]struct {
		arc   byte
		value []byte
	}
}

// readDN reads raw, a Name, into d when every attribute is of a type dnTypes has and its
// value a string nameString reads (validValue).
func readDN(raw cryptobyte.String, d *dn) bool {
	d.n = 0
	if !raw.ReadASN1(&raw, cbasn1.SEQUENCE) {
		return false
	}
	for !raw.Empty() {
		var set cryptobyte.String
		if !raw.ReadASN1(&set, cbasn1.SET) {
			return false
		}
		for !set.Empty() {
			var atav, oid, value cryptobyte.String
			var tag cbasn1.Tag
			if d.n == maxDNAttrs || !set.ReadASN1(&atav, cbasn1.SEQUENCE) ||
				!atav.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) || !atav.ReadAnyASN1(&value, &tag) ||
				!atav.Empty() || !knownDNType(oid) || !validValue(tag, value) {
				return false
			}
			d.attrs[d.n].arc, d.attrs[d.n].value = oid[2], value
			d.n++
		}
	}
	return true
}

// knownDNType says whether oid, as encoded, is 2.5.4.x of a type in dnTypes.
func knownDNType(oid []byte) bool {
	if len(oid) != 3 || oid[0] != 0x55 || oid[1] != 0x04 {
		return false
	}
	for _, t := range dnTypes {
		if t.arc == oid[2] {
			return true
		}
	}
	return false
}

// appendTo appends the Name as pkix.Name's String writes it: the values of a type with several
// joined by '+' in one RDN, the RDNs in dnTypes's order joined by ',', each value escaped as
// RDNSequence.String escapes it.
func (d *dn) appendTo(dst []byte) []byte {
	first := true
	for _, t := range dnTypes {
		last := -1
		if t.one {
			for i := range d.n {
				if d.attrs[i].arc == t.arc {
					last = i
				}
			}
			if last < 0 || len(d.attrs[last].value) == 0 {
				continue
			}
		}
		sep := byte(',')
		for i := range d.n {
			if a := &d.attrs[i]; a.arc == t.arc && (last < 0 || i == last) {
				if !first {
					dst = append(dst, sep)
				}
				first, sep = false, '+'
				dst = appendDNValue(append(append(dst, t.name...), '='), a.value)
			}
		}
	}
	return dst
}

// appendDNValue appends v escaped as RDNSequence.String escapes a value. v is valid UTF-8 and
// every character escaped is ASCII, so its bytes are looked at one by one.
func appendDNValue(dst, v []byte) []byte {
	for k, c := range v {
		escape := false
		switch c {
		case ',', '+', '"', '\\', '<', '>', ';':
			escape = true
		case ' ':
			escape = k == 0 || k == len(v)-1
		case '#':
			escape = k == 0
		}
		if escape {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return dst
}
