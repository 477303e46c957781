package certsource

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"unsafe"

	"github.com/certgal/certgal/certsource/cacheio"
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
	// WriteCache or UnmarshalCache: if not, there is nothing new to keep.
	CacheChanged() bool
	// WriteCache writes the cache to w as it goes, never whole in memory:
	// it is written while a pass holds its data. Its error is w's.
	WriteCache(w io.Writer) error
	// UnmarshalCache reads a body WriteCache wrote, in this process or
	// another, before the first Read, and returns how many entries it holds.
	// size is the body's length, which bounds what it can hold. The body is
	// read to its end (io.EOF) before anything of it is used: the keeper's
	// reader checks the body there, and its error is returned as it is.
	UnmarshalCache(body io.Reader, size int64) (int, error)
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

// opensslCacheFormat versions WriteCache's body: per certificate file its
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

// WriteCache implements CachingSource. The records are encoded a batch at
// a time under the lock, and written without it.
func (o *OpenSSL) WriteCache(w io.Writer) error {
	o.mu.Lock()
	o.fresh = 0
	n := o.cache.len()
	o.mu.Unlock()

	b := binary.BigEndian.AppendUint32(make([]byte, 0, 64*1024), opensslCacheFormat)
	b = binary.AppendUvarint(b, uint64(n))
	for pos := 0; pos < n; {
		o.mu.Lock()
		for ; pos < n && len(b) < 60*1024; pos++ {
			b = o.appendRecord(b, int32(pos))
		}
		o.mu.Unlock()
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("openssl source cache: %w", err)
		}
		b = b[:0]
	}
	if len(b) > 0 { // no records
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("openssl source cache: %w", err)
		}
	}
	return nil
}

// appendRecord appends the cache's record at pos as WriteCache writes it.
// Under mu.
func (o *OpenSSL) appendRecord(b []byte, pos int32) []byte {
	f := o.cache.rec(pos)
	dir, name, serial := o.cache.names.entry(f.name)
	b = binary.AppendUvarint(b, uint64(len(dir)+len(name)))
	b = append(append(b, dir...), name...)
	b = binary.BigEndian.AppendUint64(b, uint64(f.size()))
	b = binary.BigEndian.AppendUint64(b, uint64(f.mtime))
	b = binary.BigEndian.AppendUint64(b, f.ino)
	b = binary.BigEndian.AppendUint64(b, uint64(f.ctime))
	b = append(b, f.hash[:]...)
	if serial == nil {
		serial = nameSerialBytes(name)
	}
	b = binary.AppendUvarint(b, uint64(len(serial)))
	return append(b, serial...)
}

// DropCache implements CachingSource.
func (o *OpenSSL) DropCache() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cache, o.quick, o.crls, o.fresh, o.parsed = newFileTable(0), nil, nil, 0, nil
}

// UnmarshalCache implements CachingSource.
func (o *OpenSSL) UnmarshalCache(body io.Reader, size int64) (int, error) {
	d := cacheio.NewReader(body, size)
	if binary.BigEndian.Uint32(d.Next(4)) != opensslCacheFormat || d.Err() != nil {
		return 0, errors.New("openssl source cache: another format")
	}
	n := d.Uvarint()
	if n > uint64(size)/(32+4*8) {
		return 0, errors.New("openssl source cache: more entries than the data holds")
	}
	cache := newFileTable(int(n))
	var path, serial []byte // the reader's bytes are valid until its next read
	for range n {
		path = append(path[:0], d.Bytes()...)
		size := binary.BigEndian.Uint64(d.Next(8))
		st := fileStat{mtime: int64(binary.BigEndian.Uint64(d.Next(8))), ino: binary.BigEndian.Uint64(d.Next(8)),
			ctime: int64(binary.BigEndian.Uint64(d.Next(8)))}
		hash := [32]byte(d.Next(32))
		serial = append(serial[:0], d.Bytes()...)
		if d.Err() != nil {
			break
		}
		if size > maxCertFile {
			continue // never read: a file that large is refused
		}
		st.size = int64(size)
		// put keeps neither string.
		cache.put(unsafe.String(unsafe.SliceData(path), len(path)), unsafe.String(unsafe.SliceData(serial), len(serial)), newRecord(st, hash))
	}
	if err := d.End(); err != nil {
		return 0, fmt.Errorf("openssl source cache: %w", err)
	}
	o.mu.Lock()
	o.cache, o.fresh, o.parsed = cache, 0, nil
	o.mu.Unlock()
	return cache.len(), nil
}
