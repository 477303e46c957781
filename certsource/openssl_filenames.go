package certsource

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"path/filepath"
	"strings"
)

// fileNames are the paths and serials of a fileTable's records, packed in
// one buffer with no pointer in it: a path is one of a few directories and
// a file name, and the serial of a file named SERIAL.pem is, but for
// leading zeros, its name's. An entry is the directory's index and the
// name's length (uvarints) and the name, then a uvarint 0 when the serial
// is the name's (nameSerial), else the serial's length+1 and the serial.
//
// Entries are only appended, never changed: a copy of a fileNames (view)
// keeps naming the files of its entries while the table grows, without the
// table's lock; that is how a snapshot's Certificates name their files
// (Certificate.Origin) without a string each.
type fileNames struct {
	dirs  []string // each with its separator at the end, or ""
	buf   []byte
	byDir map[string]uint32 // indexes in dirs; nil in a view
}

// add appends the entry of path and serial, and returns where it starts. It
// keeps neither string: they may be a buffer of the caller's.
func (n *fileNames) add(path, serial string) uint32 {
	off := uint32(len(n.buf))
	i := strings.LastIndexByte(path, filepath.Separator) + 1
	dir, name := path[:i], path[i:]
	d, ok := n.byDir[dir]
	if !ok {
		if n.byDir == nil {
			n.byDir = map[string]uint32{}
		}
		d = uint32(len(n.dirs))
		dir = strings.Clone(dir)
		n.dirs = append(n.dirs, dir)
		n.byDir[dir] = d
	}
	n.buf = binary.AppendUvarint(n.buf, uint64(d))
	n.buf = binary.AppendUvarint(n.buf, uint64(len(name)))
	n.buf = append(n.buf, name...)
	if nameSerial(name) == serial {
		n.buf = append(n.buf, 0)
	} else {
		n.buf = binary.AppendUvarint(n.buf, uint64(len(serial))+1)
		n.buf = append(n.buf, serial...)
	}
	return off
}

// view is a copy of n that names the files of its entries so far.
func (n *fileNames) view() *fileNames { return &fileNames{dirs: n.dirs, buf: n.buf} }

// entry decodes the entry at off: serial is nil when it is the name's.
func (n *fileNames) entry(off uint32) (dir string, name, serial []byte) {
	b := n.buf[off:]
	d, k := binary.Uvarint(b)
	b = b[k:]
	l, k := binary.Uvarint(b)
	name, b = b[k:k+int(l)], b[k+int(l):]
	if s, k := binary.Uvarint(b); s > 0 {
		serial = b[k : k+int(s)-1]
	}
	return n.dirs[d], name, serial
}

// path is the path of the entry at off, as a new string.
func (n *fileNames) path(off uint32) string {
	dir, name, _ := n.entry(off)
	return dir + string(name)
}

// dir is the directory of the entry at off: filepath.Dir of its path
// without the Clean, a string of n's.
func (n *fileNames) dir(off uint32) string {
	dir, _, _ := n.entry(off)
	return dir
}

// pathIs reports whether p is the path of the entry at off.
func (n *fileNames) pathIs(off uint32, p string) bool {
	dir, name, _ := n.entry(off)
	return len(p) == len(dir)+len(name) && p[:len(dir)] == dir && p[len(dir):] == string(name)
}

// pathIsBytes is pathIs of a path as bytes, making no string of it.
func (n *fileNames) pathIsBytes(off uint32, p []byte) bool {
	dir, name, _ := n.entry(off)
	return len(p) == len(dir)+len(name) && string(p[:len(dir)]) == dir && bytes.Equal(p[len(dir):], name)
}

// serialIs reports whether s is the serial of the entry at off.
func (n *fileNames) serialIs(off uint32, s string) bool {
	_, name, serial := n.entry(off)
	if serial == nil {
		return string(nameSerialBytes(name)) == s
	}
	return string(serial) == s
}

// serial is the serial of the entry at off, as a new string.
func (n *fileNames) serial(off uint32) string {
	_, name, serial := n.entry(off)
	if serial == nil {
		return string(nameSerialBytes(name))
	}
	return string(serial)
}

// hash is maphash.String of the path of the entry at off.
func (n *fileNames) hash(seed maphash.Seed, off uint32) uint64 {
	dir, name, _ := n.entry(off)
	var h maphash.Hash
	h.SetSeed(seed)
	h.WriteString(dir)
	h.Write(name)
	return h.Sum64()
}

// nameSerial is the serial a file named SERIAL.ext most likely holds:
// canonicalSerial of its name without the extension.
func nameSerial(name string) string {
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[:i]
	}
	return canonicalSerial(name)
}

// nameSerialBytes is nameSerial of a name as bytes, a part of it: the
// compiler's string(b) == s compares it with a string allocating nothing.
func nameSerialBytes(name []byte) []byte {
	if i := bytes.LastIndexByte(name, '.'); i >= 0 {
		name = name[:i]
	}
	t := bytes.TrimLeft(name, "0")
	if len(t) == 0 && len(name) > 0 {
		return name[len(name)-1:] // "0"
	}
	return t
}
