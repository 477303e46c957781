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

// location is where locate found a certificate file: its path, or at, the
// position of the cache's record of the path, when the cache knows the
// file (no string is made of its path then); path "" and at -1 when there
// is none. st is its fileStat, zero when locate did not stat it.
type location struct {
	path string
	at   int32
	st   fileStat
}

// fileResult is where a read found a certificate file: the cache's record
// at at (when not -1) names it, and after a read that succeeded is the
// file's; bad is why it could not be read, nil when it was. A read holds one
// for each of index.txt's lines while it reads their files.
type fileResult struct {
	at    int32
	found bool
	bad   *fileError
}

// fileError is why a file could not be read, and its path when no record
// names it.
type fileError struct {
	path string
	err  error
}

// err is why the file could not be read, nil when it was.
func (f fileResult) err() error {
	if f.bad == nil {
		return nil
	}
	return f.bad.err
}

// parseAll reads n files on every core, each found by locate (a zero
// fileStat makes it stat the path itself), using the cache for unchanged
// files. A file's result is not found when locate found none. With
// mode.parsed, every file read is kept parsed.
//
// The last file comes first: a CA appends the lines of what it issues to
// index.txt, so the files a read has not seen are at its end, and meeting
// them early tells a daemon's pass at once that the directory's read must
// wait for the store's (sync's newFiles), before it has taken users that
// would be held while the new files are parsed (docs/BENCHMARKS.md, "The
// renewal pass's read and planning").
func (o *OpenSSL) parseAll(ctx context.Context, n int, locate func(int) location, mode readMode) []fileResult {
	files := make([]fileResult, n)
	parallel.For(ctx, n, parallel.Options{Batch: parseBatch}, func() func(int) {
		var buf []byte // one read buffer per worker: the files are small
		return func(j int) {
			i := n - 1 - j
			l := locate(i)
			if l.path == "" && l.at < 0 {
				files[i] = fileResult{at: -1}
				return
			}
			at, err := o.parseFile(l, mode, &buf)
			files[i] = fileResult{at: at, found: true}
			if err != nil {
				files[i].bad = &fileError{path: l.path, err: err}
			}
		}
	})
	return files
}

// parseBatch is how many files a worker takes at a time: fewer hand-offs
// between goroutines than one file each.
const parseBatch = 64

// parseFile returns the position of the cache's record of the file l found,
// whose st is its fileStat when the caller has it (a regular file's), zero
// when not. A file is read and checked once per size, mtime, inode and
// ctime; with mode.parsed the parsed certificate is kept from then on. On
// error, the position is l.at. buf is the caller's buffer to read the file
// into; what is kept is a copy.
func (o *OpenSSL) parseFile(l location, mode readMode, buf *[]byte) (int32, error) {
	st := l.st
	if l.path == "" {
		if st.regular && o.unchangedAt(l.at, st, mode) {
			return l.at, nil
		}
		l.path = o.recordPath(l.at)
	}
	if !st.regular {
		var err error
		if st, err = statFile(l.path); err != nil {
			return l.at, err
		}
	}
	if at := o.cachedAs(l.path, st, mode); at >= 0 {
		return at, nil
	}
	data, err := readFile(l.path, st.size, buf)
	if err != nil {
		return l.at, err
	}
	der, err := decodeCertificate(data)
	if err != nil {
		return l.at, err
	}
	if len(der) == 0 {
		return l.at, errors.New("empty file")
	}
	rec := newRecord(st, sha256.Sum256(der))
	serial, cert, err := identify(der, data, rec.hash, mode)
	if err != nil {
		return l.at, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	at, replaced := o.cache.put(l.path, serial, rec)
	if replaced {
		// The quick read names its files by their records: once one holds
		// another file's, only a full read is sure of them.
		o.quick = nil
	}
	if cert != nil {
		if o.parsed == nil {
			o.parsed = map[int32]*x509.Certificate{}
		}
		o.parsed[at] = cert
	} else {
		delete(o.parsed, at)
	}
	o.fresh++
	return at, nil
}

// recordPath is the path of the cache's record at pos, as a new string.
func (o *OpenSSL) recordPath(pos int32) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cache.path(pos)
}

// pathOf is the path of the file of f, "" when none was found.
func (o *OpenSSL) pathOf(f fileResult) string {
	switch {
	case f.bad != nil && f.bad.path != "":
		return f.bad.path
	case f.at >= 0:
		return o.recordPath(f.at)
	}
	return ""
}

// serialIs reports whether the certificate of the cache's record at pos
// has the serial s.
func (o *OpenSSL) serialIs(pos int32, s string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cache.names.serialIs(o.cache.rec(pos).name, s)
}

// foundDirs are the paths of the files found, but for those the cache
// names, of which it gives one path for each run of files in one directory
// (their directory with a separator at its end), which has the same
// filepath.Dir: what dirStamps.add needs.
func (o *OpenSSL) foundDirs(files []fileResult) []string {
	var out []string
	prev := ""
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, f := range files {
		switch {
		case !f.found:
		case f.bad != nil && f.bad.path != "":
			out = append(out, f.bad.path)
		case f.at >= 0:
			d := o.cache.names.dir(o.cache.rec(f.at).name)
			if d == "" {
				d = "." // a path with no directory: filepath.Dir's
			}
			if d != prev {
				out, prev = append(out, d), d
			}
		}
	}
	return out
}

// cachedAs is the position of the cache's record of the file at path when
// the file has not changed since (same size, mtime, inode and ctime) and
// the record holds what mode needs; -1 otherwise. Read wants the parsed
// certificate: a file ReadUnparsed read is read again.
func (o *OpenSSL) cachedAs(path string, st fileStat, mode readMode) int32 {
	o.mu.Lock()
	at := o.cache.find(path)
	o.mu.Unlock()
	if at < 0 || !o.unchangedAt(at, st, mode) {
		return -1
	}
	return at
}

// unchangedAt is cachedAs of the file of the cache's record at pos.
func (o *OpenSSL) unchangedAt(pos int32, st fileStat, mode readMode) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.cache.rec(pos).unchanged(st) {
		return false
	}
	_, ok := o.parsed[pos]
	return ok || !mode.parsed
}

// identify returns the serial of der, the certificate of a file read into
// data, whose SHA-256 is hash, and with mode.parsed the parsed certificate
// to keep.
func identify(der, data []byte, hash [32]byte, mode readMode) (string, *x509.Certificate, error) {
	if !mode.parsed && mode.inspect != nil {
		// The consumer parses, or knows the certificate by its hash already;
		// nothing of the file is kept but its hash and serial.
		serial, err := mode.inspect(der, hash)
		return serial, nil, err
	}
	if mode.parsed && &der[0] == &data[0] {
		der = bytes.Clone(der) // kept, and a DER file's data is the reused buffer
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return "", nil, err
	}
	if !mode.parsed {
		return SerialHex(cert.SerialNumber), nil, nil
	}
	return SerialHex(cert.SerialNumber), cert, nil
}

// AppendDER implements UnparsedSource: it reads c's file again.
func (o *OpenSSL) AppendDER(dst []byte, c *Certificate) ([]byte, error) {
	if der := c.DER(); der != nil {
		return append(dst, der...), nil
	}
	// Origin is a path under the CA directory that a read found; never anything else.
	origin := c.Origin()
	rel, err := filepath.Rel(o.dir, origin)
	if _, ok := o.inside(rel); err != nil || !ok {
		return dst, fmt.Errorf("openssl source: %s: not a certificate file of %s", origin, o.dir)
	}
	// The size the read found, when it found this certificate there: a
	// publish loads every file it writes, and a stat each was a good part of
	// this function's time (docs/BENCHMARKS.md, "Figures moved out of code comments (certsource)").
	// A file changed since reads short or hashes differently below.
	var size int64
	o.mu.Lock()
	if at := o.cache.find(origin); at >= 0 && o.cache.rec(at).hash == c.Hash {
		size = int64(o.cache.rec(at).size())
	}
	o.mu.Unlock()
	if size == 0 {
		st, err := statFile(origin)
		if err != nil {
			return dst, fmt.Errorf("openssl source: %w", err)
		}
		size = st.size
	}
	buf := loadBuffers.Get().(*[]byte)
	defer loadBuffers.Put(buf)
	data, err := readFile(origin, size, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return dst, fmt.Errorf("openssl source: %s changed since it was read", origin)
	}
	if err != nil {
		return dst, fmt.Errorf("openssl source: %s: %w", origin, err)
	}
	out, err := appendCertificate(dst, data)
	if err != nil {
		return dst, fmt.Errorf("openssl source: %s: %w", origin, err)
	}
	if der := out[len(dst):]; len(der) == 0 || sha256.Sum256(der) != c.Hash {
		return dst, fmt.Errorf("openssl source: %s changed since it was read", origin)
	}
	return out, nil
}

// loadBuffers are AppendDER's read buffers: the writes of a pass load each
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
	if bytes.Contains(data, privateKeyEnd) {
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
