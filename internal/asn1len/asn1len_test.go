package asn1len

import (
	"bytes"
	"testing"
)

func TestAppend(t *testing.T) {
	for _, c := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0x00}},
		{127, []byte{0x7f}},
		{128, []byte{0x81, 0x80}},
		{255, []byte{0x81, 0xff}},
		{256, []byte{0x82, 0x01, 0x00}},
		{65535, []byte{0x82, 0xff, 0xff}},
		{65536, []byte{0x83, 0x01, 0x00, 0x00}},
		{1 << 24, []byte{0x84, 0x01, 0x00, 0x00, 0x00}},
	} {
		got := Append([]byte{0x30}, c.n)
		if !bytes.Equal(got[1:], c.want) || got[0] != 0x30 {
			t.Errorf("Append(%d) = % x, want 30 % x", c.n, got, c.want)
		}
		if Size(c.n) != len(c.want) {
			t.Errorf("Size(%d) = %d, want %d", c.n, Size(c.n), len(c.want))
		}
	}
}
