package certsource

import (
	"hash/maphash"

	"github.com/certgal/certgal/internal/slots"
)

// fileTable holds the OpenSSL source's record of each file, by path: the
// records as values in one list, with nothing in them for the collector to
// follow, their paths and serials packed in fileNames, and a slots index of
// them. A daemon keeps one for each file of the store (120,000 at 100,000
// users): a Go map of them took more than twice the memory, and a record of
// its own with a string of its own for the path and one for the serial
// twice what this takes (docs/BENCHMARKS.md, "The OpenSSL source's memory,
// issue 17"). A record is replaced in its place, never removed by itself: a
// record's position names its file for as long as the table lives.
type fileTable struct {
	seed  maphash.Seed
	recs  []fileRecord
	names fileNames
	index slots.Index
}

// fileRecord is what is known of one certificate file while it is
// unchanged: the hash and serial, as a CA's certificates take as much
// memory as they take disk, and a parsed certificate several times that.
// Its 64 bytes hold no pointer.
type fileRecord struct {
	hash  [32]byte
	mtime int64  // Unix ns
	ino   uint64 // and ctime: see statFile
	ctime int64
	// sizeIssuer is the file's size, at most maxCertFile (a larger file is
	// not read), in the low 24 bits, and in the top 8 the trusted CA whose
	// signature on the certificate verifies, once checked (see
	// fileIssuer): issuerUnchecked, issuerNone, or issuerNone+1+i for the
	// trust set's CA i.
	sizeIssuer uint32
	name       uint32 // the path's and serial's entry in fileNames
}

const sizeBits = 24

func (r *fileRecord) size() uint32  { return r.sizeIssuer & (1<<sizeBits - 1) }
func (r *fileRecord) issuer() uint8 { return uint8(r.sizeIssuer >> sizeBits) }

func (r *fileRecord) setIssuer(code uint8) {
	r.sizeIssuer = r.size() | uint32(code)<<sizeBits
}

// newRecord is the record of a file of that fileStat whose certificate
// hashes to hash; its size is at most maxCertFile.
func newRecord(st fileStat, hash [32]byte) fileRecord {
	return fileRecord{hash: hash, mtime: st.mtime, ino: st.ino, ctime: st.ctime, sizeIssuer: uint32(st.size)}
}

// unchanged reports whether st is the fileStat the record was made from.
func (r *fileRecord) unchanged(st fileStat) bool {
	return int64(r.size()) == st.size && r.mtime == st.mtime && r.ino == st.ino && r.ctime == st.ctime
}

func newFileTable(n int) *fileTable {
	return &fileTable{seed: maphash.MakeSeed(), recs: make([]fileRecord, 0, n), index: slots.New(n)}
}

func (t *fileTable) len() int { return len(t.recs) }

// reserve makes room for n records in all, exactly: a read reserves one
// for each of index.txt's lines before it reads their files, and append
// would leave a quarter of the list unused when a renewal adds a tenth.
func (t *fileTable) reserve(n int) {
	if n > cap(t.recs) {
		recs := make([]fileRecord, len(t.recs), n)
		copy(recs, t.recs)
		t.recs = recs
	}
}

// rec is the record at pos, to read or change in place.
func (t *fileTable) rec(pos int32) *fileRecord { return &t.recs[pos] }

// find is the position of the record of path, -1 when there is none.
func (t *fileTable) find(path string) int32 {
	pos, _ := t.findFree(path)
	return int32(pos)
}

func (t *fileTable) findFree(path string) (int, slots.Free) {
	return t.index.Find(maphash.String(t.seed, path), func(i int) bool { return t.names.pathIs(t.recs[i].name, path) })
}

// findBytes is find of a path the caller has as bytes, making no string of it.
func (t *fileTable) findBytes(path []byte) int32 {
	pos, _ := t.index.Find(maphash.Bytes(t.seed, path), func(i int) bool { return t.names.pathIsBytes(t.recs[i].name, path) })
	return int32(pos)
}

// put makes r the record of path, whose certificate has that serial, in
// place of the one it had, and returns its position; replaced says whether
// path had one.
func (t *fileTable) put(path, serial string, r fileRecord) (pos int32, replaced bool) {
	i, free := t.findFree(path)
	if i >= 0 {
		if old := t.recs[i].name; t.names.serialIs(old, serial) {
			r.name = old
		} else {
			r.name = t.names.add(path, serial)
		}
		t.recs[i] = r
		return int32(i), true
	}
	r.name = t.names.add(path, serial)
	t.index.Put(free, len(t.recs), func(i int) uint64 { return t.names.hash(t.seed, t.recs[i].name) })
	t.recs = append(t.recs, r)
	return int32(len(t.recs) - 1), false
}

// path is the path of the record at pos, as a new string.
func (t *fileTable) path(pos int32) string { return t.names.path(t.recs[pos].name) }

// serial is the serial of the record at pos, as a new string.
func (t *fileTable) serial(pos int32) string { return t.names.serial(t.recs[pos].name) }
