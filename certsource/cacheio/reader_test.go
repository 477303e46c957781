package cacheio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// body is a uvarint 3, "abc" length-prefixed, the 4 bytes 1 2 3 4 and the string "xyz".
func body() []byte {
	b := binary.AppendUvarint(nil, 3)
	b = append(binary.AppendUvarint(b, 3), "abc"...)
	b = append(b, 1, 2, 3, 4)
	return append(b, "xyz"...)
}

func read(d *Reader) (uint64, string, []byte, string) {
	n := d.Uvarint()
	s := string(d.Bytes())
	b := bytes.Clone(d.Next(4))
	return n, s, b, d.String(3)
}

func TestReader(t *testing.T) {
	damaged := errors.New("checksum mismatch")
	for _, tc := range []struct {
		name string
		r    io.Reader
		want error // from End
	}{
		{"whole", bytes.NewReader(body()), nil},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(body())), nil},
		{"trailing", bytes.NewReader(append(body(), 0)), errors.New("trailing bytes")},
		{"cut", bytes.NewReader(body()[:len(body())-1]), ErrTruncated},
		{"cut in a field", bytes.NewReader(body()[:4]), ErrTruncated},
		{"the reader's error at the end", io.MultiReader(bytes.NewReader(body()), iotest.ErrReader(damaged)), damaged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewReader(tc.r, int64(len(body())))
			n, s, b, str := read(d)
			left := d.Left()
			err := d.End()
			if tc.want == nil {
				if err != nil || n != 3 || s != "abc" || !bytes.Equal(b, []byte{1, 2, 3, 4}) || str != "xyz" || left != 0 {
					t.Errorf("got %d %q %v %q, %d bytes left, %v", n, s, b, str, left, err)
				}
				return
			}
			if err == nil || err.Error() != tc.want.Error() {
				t.Errorf("End() = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReaderStickyAndFail(t *testing.T) {
	d := NewReader(bytes.NewReader(body()), int64(len(body())))
	d.Fail(errors.New("bad record"))
	if n := d.Uvarint(); n != 0 || d.Next(4) == nil || d.Bytes() != nil || d.String(3) != "" {
		t.Error("a read after an error returned something")
	}
	d.Fail(errors.New("another"))
	if err := d.End(); err == nil || err.Error() != "bad record" {
		t.Errorf("End() = %v, want the first error", err)
	}
	long := binary.AppendUvarint(nil, MaxField+1)
	if d := NewReader(bytes.NewReader(long), int64(len(long))); d.Bytes() != nil || d.Err() == nil {
		t.Error("a length over MaxField was read")
	}
}
