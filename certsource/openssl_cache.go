package certsource

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"

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

// WriteCache implements CachingSource.
func (o *OpenSSL) WriteCache(w io.Writer) error {
	o.mu.Lock()
	o.fresh = 0
	files := make([]*cachedFile, 0, o.cache.len())
	o.cache.each(func(f *cachedFile) { files = append(files, f) })
	o.mu.Unlock()

	b := binary.BigEndian.AppendUint32(make([]byte, 0, 256), opensslCacheFormat)
	b = binary.AppendUvarint(b, uint64(len(files)))
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("openssl source cache: %w", err)
	}
	for _, f := range files {
		b = b[:0]
		b = appendString(b, f.path)
		b = binary.BigEndian.AppendUint64(b, uint64(f.size))
		b = binary.BigEndian.AppendUint64(b, uint64(f.mtime))
		b = binary.BigEndian.AppendUint64(b, f.ino)
		b = binary.BigEndian.AppendUint64(b, uint64(f.ctime))
		b = append(b, f.hash[:]...)
		b = appendString(b, f.serial)
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("openssl source cache: %w", err)
		}
	}
	return nil
}

func appendString(b []byte, v string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(v))), v...)
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
	files := make([]cachedFile, n)
	for i := range files {
		f := &files[i]
		path := string(d.Bytes())
		f.path = path
		size := binary.BigEndian.Uint64(d.Next(8))
		f.mtime = int64(binary.BigEndian.Uint64(d.Next(8)))
		f.ino = binary.BigEndian.Uint64(d.Next(8))
		f.ctime = int64(binary.BigEndian.Uint64(d.Next(8)))
		f.hash = [32]byte(d.Next(32))
		f.serial = string(d.Bytes())
		if d.Err() != nil {
			break
		}
		if size > maxCertFile {
			continue // never read: a file that large is refused
		}
		f.size = uint32(size)
		cache.put(f)
	}
	if err := d.End(); err != nil {
		return 0, fmt.Errorf("openssl source cache: %w", err)
	}
	o.mu.Lock()
	o.cache, o.fresh, o.parsed = cache, 0, nil
	o.mu.Unlock()
	return cache.len(), nil
}
