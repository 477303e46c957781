package lookup

import (
	"encoding/base64"
	"slices"
	"strconv"
	"unsafe"
)

// lengthTable holds the index's Content-Length values, which net/http needs as []string:
// there are few distinct ones, and they are substrings of one string.
type lengthTable struct {
	n []int    // sorted
	v []string // v[i] is n[i] in decimal
}

// newLengthTable makes the table of the lengths in ns (sorted and without duplicates here).
func newLengthTable(ns []int) lengthTable {
	slices.Sort(ns)
	ns = slices.Compact(ns)
	var text []byte
	ends := make([]int, len(ns))
	for i, n := range ns {
		text = strconv.AppendInt(text, int64(n), 10)
		ends[i] = len(text)
	}
	all := string(text)
	lt := lengthTable{n: slices.Clip(ns), v: make([]string, len(ns))}
	start := 0
	for i, end := range ends {
		lt.v[i] = all[start:end]
		start = end
	}
	return lt
}

// header is the Content-Length value n; every length the index serves is in the table.
func (lt *lengthTable) header(n int) []string {
	if i, ok := slices.BinarySearch(lt.n, n); ok {
		return lt.v[i : i+1 : i+1]
	}
	return []string{strconv.Itoa(n)}
}

// etagHeader is an ETag value as net/http takes it, in one allocation: net/http reads the
// header after the handler has returned, so it cannot be in a pooled buffer, and prepared for
// every certificate and format the values took more memory than the rest of the index.
func etagHeader(sum [32]byte, format byte) []string {
	e := new(struct {
		v [1]string
		b [etagLen]byte
	})
	b := appendETag(e.b[:0], sum, format)
	e.v[0] = unsafe.String(&b[0], len(b)) // b is e.b, written once and never again
	return e.v[:]
}

// etagLen is the length of an ETag: a quote, 24 characters of hash, a dot, the format, a quote.
const etagLen = 1 + 24 + 2 + 1

// appendETag appends a strong validator: the content's hash and a letter for the format,
// since the representations of one certificate differ.
func appendETag(b []byte, sum [32]byte, format byte) []byte {
	b = append(b, '"')
	b = base64.RawURLEncoding.AppendEncode(b, sum[:18])
	return append(b, '.', format, '"')
}

// etagOf is appendETag as a string.
func etagOf(sum [32]byte, format byte) string { return string(appendETag(nil, sum, format)) }
