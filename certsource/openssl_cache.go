package certsource

import (
	"encoding/binary"
	"errors"
	"path/filepath"
)

// CachingSource is a Source whose memory of what it read can outlive the
// process: sync keeps it in its cache directory, beside the classification,
// and hands it back to the next process, which then reads only what changed.
// Framing, checksum and atomic replacement are the keeper's business; the
// source only turns its memory into bytes and back.
type CachingSource interface {
	Source
	// CacheKey names what the cache is of: the same key, the same store.
	CacheKey() string
	// CacheChanged reports whether the source read anything since the last
	// MarshalCache or UnmarshalCache: if not, there is nothing new to keep.
	CacheChanged() bool
	// MarshalCache returns the cache.
	MarshalCache() []byte
	// UnmarshalCache takes a body MarshalCache returned, in this process or
	// another, before the first Read; it returns how many entries it holds.
	UnmarshalCache(body []byte) (int, error)
	// DropCache forgets what the source remembers of its store: the next
	// read reads everything again. For a process that reads once.
	DropCache()
}

// CacheKey implements CachingSource: the CA directory.
func (o *OpenSSL) CacheKey() string {
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		dir = o.dir
	}
	return "openssl:" + dir
}

// opensslCacheFormat versions MarshalCache's body: per certificate file its
// path, size, mtime (Unix ns), inode, ctime (Unix ns), the DER's SHA-256 and
// the serial number as SerialHex writes it; lengths as uvarints.
// Neither the DER nor anything of a parsed certificate: the file has the one,
// the classification is sync's.
const opensslCacheFormat = 3

// CacheChanged implements CachingSource.
func (o *OpenSSL) CacheChanged() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fresh > 0
}

// MarshalCache implements CachingSource.
func (o *OpenSSL) MarshalCache() []byte {
	o.mu.Lock()
	o.fresh = 0
	files := make([]*cachedFile, 0, len(o.cache))
	size := 0
	for _, f := range o.cache {
		files = append(files, f)
		size += len(f.path) + 96
	}
	o.mu.Unlock()

	b := make([]byte, 0, size+8)
	b = binary.BigEndian.AppendUint32(b, opensslCacheFormat)
	b = binary.AppendUvarint(b, uint64(len(files)))
	for _, f := range files {
		b = appendBytes(b, []byte(f.path))
		b = binary.BigEndian.AppendUint64(b, uint64(f.size))
		b = binary.BigEndian.AppendUint64(b, uint64(f.mtime))
		b = binary.BigEndian.AppendUint64(b, f.ino)
		b = binary.BigEndian.AppendUint64(b, uint64(f.ctime))
		b = append(b, f.hash[:]...)
		b = appendBytes(b, []byte(f.serial))
	}
	return b
}

func appendBytes(b, v []byte) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
}

// DropCache implements CachingSource.
func (o *OpenSSL) DropCache() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cache, o.quick, o.fresh = map[string]*cachedFile{}, nil, 0
}

// UnmarshalCache implements CachingSource.
func (o *OpenSSL) UnmarshalCache(body []byte) (int, error) {
	d := byteReader{b: body}
	if binary.BigEndian.Uint32(d.next(4)) != opensslCacheFormat || d.err != nil {
		return 0, errors.New("openssl source cache: another format")
	}
	n := d.uvarint()
	if n > uint64(len(body))/(32+4*8) {
		return 0, errors.New("openssl source cache: more entries than the data holds")
	}
	cache := make(map[string]*cachedFile, n)
	files := make([]cachedFile, n)
	for i := range files {
		f := &files[i]
		path := string(d.bytes())
		f.path = path
		f.size = int64(binary.BigEndian.Uint64(d.next(8)))
		f.mtime = int64(binary.BigEndian.Uint64(d.next(8)))
		f.ino = binary.BigEndian.Uint64(d.next(8))
		f.ctime = int64(binary.BigEndian.Uint64(d.next(8)))
		f.hash = [32]byte(d.next(32))
		f.serial = string(d.bytes())
		if d.err != nil {
			return 0, d.err
		}
		cache[path] = f
	}
	if len(d.b) != 0 {
		return 0, errors.New("openssl source cache: trailing bytes")
	}
	o.mu.Lock()
	o.cache, o.fresh = cache, 0
	o.mu.Unlock()
	return len(cache), nil
}

// byteReader reads a cache body; the first error sticks, and reads after it
// return zeros.
type byteReader struct {
	b   []byte
	err error
}

func (d *byteReader) next(n int) []byte {
	if d.err != nil || n > len(d.b) {
		if d.err == nil {
			d.err = errors.New("openssl source cache: truncated")
		}
		return make([]byte, n)
	}
	out := d.b[:n:n]
	d.b = d.b[n:]
	return out
}

func (d *byteReader) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if d.err == nil && n <= 0 {
		d.err = errors.New("openssl source cache: bad length")
	}
	if d.err != nil {
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *byteReader) bytes() []byte {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errors.New("openssl source cache: truncated")
	}
	if d.err != nil {
		return nil
	}
	return d.next(int(n))
}
