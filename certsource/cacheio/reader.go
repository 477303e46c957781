// Package cacheio decodes the body of a certgal cache file (sync's
// classification, a source's memory of its store) as it is read, never whole
// in memory.
package cacheio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"strings"
)

// ErrTruncated is a body that ends inside a field.
var ErrTruncated = errors.New("truncated")

// MaxField bounds a length-prefixed field (Bytes): a path, a serial.
const MaxField = 64 << 10

// Reader reads the fields of a body. The first error sticks, and reads after
// it return zeros: a decoder checks Err once per record, not once per field.
type Reader struct {
	r    *bufio.Reader
	body *counter
	size int64
	err  error
}

// NewReader reads body, of size bytes, through a buffer of MaxField bytes.
func NewReader(body io.Reader, size int64) *Reader {
	c := &counter{r: body}
	return &Reader{r: bufio.NewReaderSize(c, MaxField), body: c, size: size}
}

// counter counts what is read from r.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Left is how many bytes of the body are still to be read: what a decoder
// bounds a count by before it allocates for it. The body's checksum is
// checked only at its end, so until then a count may be damage.
func (d *Reader) Left() int64 {
	return d.size - (d.body.n - int64(d.r.Buffered()))
}

// Err is the first error.
func (d *Reader) Err() error { return d.err }

// Fail makes err the reader's error, unless it has one: for what the decoder
// finds wrong in what it read.
func (d *Reader) Fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Next returns the next n bytes (at most MaxField), valid until the next read.
func (d *Reader) Next(n int) []byte {
	if d.err == nil {
		var b []byte
		if b, d.err = d.r.Peek(n); d.err == nil {
			d.r.Discard(n)
			return b
		}
		d.err = truncated(d.err)
	}
	return make([]byte, n)
}

// Uvarint reads an unsigned varint.
func (d *Reader) Uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	if err != nil {
		d.err = truncated(err)
	}
	return v
}

// Bytes reads a uvarint length, at most MaxField, and that many bytes, valid
// until the next read.
func (d *Reader) Bytes() []byte {
	n := d.Uvarint()
	if d.err == nil && n > MaxField {
		d.err = errors.New("length out of range")
	}
	if d.err != nil {
		return nil
	}
	return d.Next(int(n))
}

// String reads n bytes into a string of their own.
func (d *Reader) String(n int64) string {
	if d.err != nil {
		return ""
	}
	var sb strings.Builder
	sb.Grow(int(n))
	if _, err := io.CopyN(&sb, d.r, n); err != nil {
		d.err = truncated(err)
		return ""
	}
	return sb.String()
}

// End checks that the body ends here: a reader that checks the body at its
// end (a checksum) says so by its error instead of io.EOF, which End returns.
func (d *Reader) End() error {
	if d.err != nil {
		return d.err
	}
	if _, err := d.r.ReadByte(); err != io.EOF {
		if err == nil {
			return errors.New("trailing bytes")
		}
		return err
	}
	return nil
}

// truncated is what an error of the underlying reader says of the body: an
// end too soon is the body's fault; any other error is the reader's own.
func truncated(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return ErrTruncated
	}
	return err
}
