package certsource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	stdsync "sync"

	"github.com/certgal/certgal/internal/parallel"
)

// fileError is where a certificate file is ("": nowhere), and why it could
// not be read (err nil: found and read).
type fileError struct {
	path string
	err  error
}

// parseAll reads n files on every core, each found by locate (a zero fileStat
// makes it stat the path itself; "" means no file), using the cache for
// unchanged files. A file's result is nil with a zero fileError when locate
// found none. With mode.parsed, every result carries its parsed certificate.
func (o *OpenSSL) parseAll(ctx context.Context, n int, locate func(int) (string, fileStat), mode readMode) ([]*cachedFile, []fileError) {
	files := make([]*cachedFile, n)
	errs := make([]fileError, n)
	parallel.For(ctx, n, parallel.Options{Batch: parseBatch}, func() func(int) {
		var buf []byte // one read buffer per worker: the files are small
		return func(i int) {
			path, st := locate(i)
			if path == "" {
				return
			}
			f, err := o.parseFile(path, st, mode, &buf)
			files[i] = f
			errs[i] = fileError{path: path, err: err}
		}
	})
	return files, errs
}

// parseBatch is how many files a worker takes at a time: fewer hand-offs
// between goroutines than one file each.
const parseBatch = 64

// parseFile returns what is known of the file at path; st is its fileStat when
// the caller has it (a regular file's), zero when not. A file is read and
// checked once per size, mtime, inode and ctime; with mode.parsed the result
// also holds the parsed certificate, kept from then on.
// buf is the caller's buffer to read the file into; what is kept is a copy.
func (o *OpenSSL) parseFile(path string, st fileStat, mode readMode, buf *[]byte) (*cachedFile, error) {
	if !st.regular {
		var err error
		if st, err = statFile(path); err != nil {
			return nil, err
		}
	}
	if c := o.cachedAs(path, st, mode); c != nil {
		return c, nil
	}
	data, err := readFile(path, st.size, buf)
	if err != nil {
		return nil, err
	}
	der, err := decodeCertificate(data)
	if err != nil {
		return nil, err
	}
	if len(der) == 0 {
		return nil, errors.New("empty file")
	}
	f := &cachedFile{path: path, size: uint32(st.size), mtime: st.mtime, ino: st.ino, ctime: st.ctime, hash: sha256.Sum256(der)}
	parsed, err := f.identify(der, data, mode)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	o.cache.put(f)
	if mode.parsed {
		if o.parsed == nil {
			o.parsed = map[*cachedFile]parsedFile{}
		}
		o.parsed[f] = parsed
	}
	o.fresh++
	o.mu.Unlock()
	return f, nil
}

// cachedAs is the cache's record of the file at path when the file has not
// changed since (same size, mtime, inode and ctime: a cached record never
// changes) and the record holds what mode needs; nil otherwise. Read wants
// the parsed certificate: a file ReadUnparsed read is read again.
func (o *OpenSSL) cachedAs(path string, st fileStat, mode readMode) *cachedFile {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.cache.get(path)
	if c == nil || int64(c.size) != st.size || c.mtime != st.mtime || c.ino != st.ino || c.ctime != st.ctime {
		return nil
	}
	if _, ok := o.parsed[c]; mode.parsed && !ok {
		return nil
	}
	return c
}

// identify sets f's serial from der, the certificate of f's file read into
// data, and with mode.parsed returns der and the parsed certificate to keep.
func (f *cachedFile) identify(der, data []byte, mode readMode) (parsedFile, error) {
	if !mode.parsed && mode.inspect != nil {
		// The consumer parses, or knows the certificate by its hash already;
		// nothing of the file is kept but its hash and serial.
		var err error
		f.serial, err = mode.inspect(der, f.hash)
		return parsedFile{}, err
	}
	if mode.parsed && &der[0] == &data[0] {
		der = bytes.Clone(der) // kept, and a DER file's data is the reused buffer
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return parsedFile{}, err
	}
	f.serial = SerialHex(cert.SerialNumber)
	if !mode.parsed {
		return parsedFile{}, nil
	}
	return parsedFile{der: der, cert: cert}, nil
}

// LoadDER implements UnparsedSource: it reads c's file again.
func (o *OpenSSL) LoadDER(c *Certificate) ([]byte, error) {
	if c.DER != nil {
		return c.DER, nil
	}
	// Origin is a path under the CA directory that a read found; never anything else.
	rel, err := filepath.Rel(o.dir, c.Origin)
	if _, ok := o.inside(rel); err != nil || !ok {
		return nil, fmt.Errorf("openssl source: %s: not a certificate file of %s", c.Origin, o.dir)
	}
	// The size the read found, when it found this certificate there: a
	// publish loads every file it writes, and a stat each was a good part of
	// this function's time (docs/BENCHMARKS.md, "Figures moved out of code comments (certsource)").
	// A file changed since reads short or hashes differently below.
	o.mu.Lock()
	f := o.cache.get(c.Origin)
	o.mu.Unlock()
	var size int64
	if f != nil && f.hash == c.Hash {
		size = int64(f.size)
	} else {
		st, err := statFile(c.Origin)
		if err != nil {
			return nil, fmt.Errorf("openssl source: %w", err)
		}
		size = st.size
	}
	buf := loadBuffers.Get().(*[]byte)
	defer loadBuffers.Put(buf)
	data, err := readFile(c.Origin, size, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("openssl source: %s changed since it was read", c.Origin)
	}
	if err != nil {
		return nil, fmt.Errorf("openssl source: %s: %w", c.Origin, err)
	}
	der, err := decodeCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("openssl source: %s: %w", c.Origin, err)
	}
	if len(der) == 0 || sha256.Sum256(der) != c.Hash {
		return nil, fmt.Errorf("openssl source: %s changed since it was read", c.Origin)
	}
	if &der[0] == &data[0] {
		der = bytes.Clone(der) // a DER file: data is the pool's buffer
	}
	return der, nil
}

// loadBuffers are LoadDER's read buffers: the writes of a pass load each
// certificate they publish, on every worker at once.
var loadBuffers = stdsync.Pool{New: func() any { return new([]byte) }}

// readFile reads the size bytes stat found in the file at path into *buf,
// which it grows as needed: one read rather than os.ReadFile's stat, read and
// read again for the end, which for a store of small files is a good part of
// a first pass (docs/BENCHMARKS.md, "Figures moved out of code comments (certsource)"). A file that changed meanwhile reads short and fails, or
// has a new size or mtime on the next pass and is read again.
func readFile(path string, size int64, buf *[]byte) ([]byte, error) {
	if size > maxCertFile {
		return nil, fmt.Errorf("%d bytes: too large for a certificate", size)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if int64(cap(*buf)) < size {
		*buf = make([]byte, size)
	}
	b := (*buf)[:size]
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, err
	}
	return b, nil
}

// maxCertFile bounds what is read of one certificate file: a certificate with
// a long chain of text in front of it is a few tens of kilobytes.
const maxCertFile = 1 << 20

// decodeCertificate finds the certificate in a PEM or DER file without
// parsing it. Text before the PEM block (openssl's -text output) is ignored; a
// file with a private key in it is refused without being decoded.
func decodeCertificate(data []byte) ([]byte, error) {
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		return nil, errors.New("file contains a private key; refused")
	}
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q is not a CERTIFICATE", block.Type)
		}
		return block.Bytes, nil
	}
	return data, nil
}

// hashFile is the SHA-256 of the file at path; zero when it cannot be read.
func hashFile(path string) [32]byte {
	var sum [32]byte
	f, err := os.Open(path)
	if err != nil {
		return sum
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum
	}
	return [32]byte(h.Sum(nil))
}
