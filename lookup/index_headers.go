package lookup

import (
	"encoding/base64"
	"strconv"
)

// headerValues collects the index's header values into one string, so that they are not an
// object each. Content-Length values are few and shared.
type headerValues struct {
	text    []byte
	ends    []int
	lengths map[int]uint32
}

func (hv *headerValues) add(v []byte) uint32 {
	hv.text = append(hv.text, v...)
	hv.ends = append(hv.ends, len(hv.text))
	return uint32(len(hv.ends) - 1)
}

func (hv *headerValues) etag(sum [32]byte, format byte) uint32 {
	var b [64]byte
	return hv.add(appendETag(b[:0], sum, format))
}

func (hv *headerValues) length(n int) uint32 {
	if i, ok := hv.lengths[n]; ok {
		return i
	}
	if hv.lengths == nil {
		hv.lengths = map[int]uint32{}
	}
	var b [20]byte
	i := hv.add(strconv.AppendInt(b[:0], int64(n), 10))
	hv.lengths[n] = i
	return i
}

func (hv *headerValues) strings() []string {
	all := string(hv.text)
	out := make([]string, len(hv.ends))
	start := 0
	for i, end := range hv.ends {
		out[i] = all[start:end]
		start = end
	}
	return out
}

// appendETag appends a strong validator: the content's hash and a letter for the format,
// since the representations of one certificate differ.
func appendETag(b []byte, sum [32]byte, format byte) []byte {
	b = append(b, '"')
	b = base64.RawURLEncoding.AppendEncode(b, sum[:18])
	return append(b, '.', format, '"')
}

// etagOf is appendETag as a string.
func etagOf(sum [32]byte, format byte) string { return string(appendETag(nil, sum, format)) }
