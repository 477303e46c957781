package sync

// packedCSN is an OpenLDAP entryCSN in 19 bytes rather than a 40-byte
// string: "YYYYmmddHHMMSS.ffffffZ#cccccc#sss#mmmmmm" (the time, the change
// count, the server ID and the modifier number, the last three in lower-case
// hex, as slapd writes it) is 35 digits at fixed places, one nibble each.
// A CSN in any other form (or none) is not packed: the table keeps its text.
// The first byte says whether the rest holds one.
type packedCSN [1 + csnDigits/2 + csnDigits%2]byte

// csnLayout is the form a packed CSN has: 'd' a decimal digit, 'x' a
// lower-case hex digit, anything else that very byte.
const csnLayout = "dddddddddddddd.ddddddZ#xxxxxx#xxx#xxxxxx"

const csnDigits = 35

// packCSN packs s, or says it cannot.
func packCSN(s string) (packedCSN, bool) {
	var p packedCSN
	if len(s) != len(csnLayout) {
		return p, false
	}
	n := 0
	for i := range len(s) {
		c, l := s[i], csnLayout[i]
		var v byte
		switch {
		case (l == 'd' || l == 'x') && '0' <= c && c <= '9':
			v = c - '0'
		case l == 'x' && 'a' <= c && c <= 'f':
			v = c - 'a' + 10
		case l != 'd' && l != 'x' && c == l:
			continue
		default:
			return p, false
		}
		p[1+n/2] |= v << (4 * (n % 2))
		n++
	}
	p[0] = 1
	return p, true
}

// packed reports whether p holds a CSN.
func (p *packedCSN) packed() bool { return p[0] == 1 }

// String is the CSN p holds, as it was before packing.
func (p *packedCSN) String() string {
	var b [len(csnLayout)]byte
	n := 0
	for i := range len(csnLayout) {
		l := csnLayout[i]
		if l != 'd' && l != 'x' {
			b[i] = l
			continue
		}
		v := p[1+n/2] >> (4 * (n % 2)) & 0xf
		n++
		if v < 10 {
			b[i] = '0' + v
		} else {
			b[i] = 'a' + v - 10
		}
	}
	return string(b[:])
}
