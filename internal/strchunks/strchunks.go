// Package strchunks copies many small strings into a few large ones and
// hands out pieces of them: a daemon keeps hundreds of thousands of short
// strings (DNs, addresses, serials), and one allocation each is as many
// objects for the collector, each rounded up to its size class
// (docs/BENCHMARKS.md, "The users a pass reads", "The classification cache
// in a compact form"). A chunk lives as long as one of its strings does.
package strchunks

import "strings"

// DefaultSize is a chunk's size when Chunks.Size is 0.
const DefaultSize = 32 << 10

// Chunks hands out copies carved from its current chunk, a strings.Builder
// grown once: what was written to it is never written over, only appended
// to, so the strings cut from it stay what they were. A string of more than
// a quarter of a chunk is allocated on its own, so that no chunk is mostly
// left unused. A nil *Chunks allocates every copy on its own.
type Chunks struct {
	Size int
	b    strings.Builder
}

// Bytes is a copy of b.
func (c *Chunks) Bytes(b []byte) string {
	if !c.room(len(b)) {
		return string(b)
	}
	start := c.b.Len()
	c.b.Write(b)
	return c.b.String()[start:]
}

// String is a copy of s.
func (c *Chunks) String(s string) string {
	if !c.room(len(s)) {
		return strings.Clone(s)
	}
	start := c.b.Len()
	c.b.WriteString(s)
	return c.b.String()[start:]
}

// room makes room for n bytes in the current chunk, starting a new one when
// needed; false when a string of n bytes goes on its own.
func (c *Chunks) room(n int) bool {
	if c == nil {
		return false
	}
	size := c.Size
	if size == 0 {
		size = DefaultSize
	}
	if n > size/4 {
		return false
	}
	if c.b.Cap()-c.b.Len() < n {
		c.b = strings.Builder{}
		c.b.Grow(size)
	}
	return true
}
