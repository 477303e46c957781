package sync

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/certgal/certgal/certsource"
	"github.com/certgal/certgal/certsource/cacheio"
)

// The classifier's file cache keeps what Classify found for each certificate a
// pass met, so that a new process (a `certgal sync` run from cron, a restarted
// daemon) does not parse and verify the whole CA store again: checking the
// issuer's signature on 120,000 certificates takes 4.8 s of a 2-core machine
// (docs/BENCHMARKS.md), reading this file back a small fraction of that.
//
// It is a cache, not state: deleting it changes nothing but the time the next
// pass takes. An entry is what Classify said of the certificate with that
// SHA-256 under the trust set the file is named for, and Classify depends on
// nothing else (not on the time: validity is judged in each pass from
// NotBefore and NotAfter). A file of another format or trust set is ignored.
// Whoever can write it can change what certgal believes of a certificate, so
// it is certgal's own (0600, in a 0700 directory), like the bind password
// certgal already holds; it holds no certificate bodies and no keys.
//
// A cache file: cacheMagic, the key it was written for (32 bytes: a file read
// with another key is not used), the SHA-256 of the body, and the body. The
// classification's key is the trust set's fingerprint and cacheFormat; its
// body the issuers the entries name (the number of trusted ones, then each
// one's length and IssuerID; the number of foreign ones, then each one's
// length and DN), the number of entries, the length of the texts, the texts
// (Cert.text: the serial and the addresses), and per entry (SaveFile writes
// them ordered by hash; a file in another order is sorted when read) the
// certificate's SHA-256, NotBefore and NotAfter (Unix seconds, uint64, and
// nanoseconds, uint32, always 0), Size, the issuer (its place in the
// issuers from 1, the trusted ones first), Unusable (its place in
// unusableReasons) and the length of its text; counts and lengths as
// uvarints. The checksum makes a damaged file fail as a whole: a flipped
// bit in an address must not bind a key to somebody else. The texts are
// read into one string that the entries' texts are slices of, and the Certs
// are one array: 136,000 entries load in a few allocations rather than a
// million, and keep nothing of the file but its texts, in which an issuer is
// not repeated for each of its certificates.

// cacheFormat is the file's version. Bump it whenever Classify or Cert change
// what they say of a certificate (TestFileCacheHoldsEveryField fails when
// Cert gains a field).
const cacheFormat = 7

const (
	cacheMagic     = "certgal cache\n"
	cacheHeaderLen = len(cacheMagic) + 32 + 32
)

// cacheFileName is the file in dir for trust.
func cacheFileName(dir string, trust *certsource.Trust) string {
	fp := trust.Fingerprint()
	return filepath.Join(dir, fmt.Sprintf("classified-v%d-%s", cacheFormat, hex.EncodeToString(fp[:8])))
}

// classificationKey is what a classification file is written for.
func classificationKey(trust *certsource.Trust) [32]byte {
	fp := trust.Fingerprint()
	return sha256.Sum256(fmt.Appendf(fp[:], "classification v%d", cacheFormat))
}

// LoadFile reads the file cache of k's trust set from dir. A missing file is
// no error (nothing was saved yet); a file that does not decode is one, and
// nothing of it is used.
func (k *Classifier) LoadFile(dir string) (int, error) {
	path := cacheFileName(dir, k.trust)
	body, err := openCacheFile(path, classificationKey(k.trust))
	if body == nil || err != nil {
		return 0, err
	}
	defer body.Close()
	saved, err := decodeCache(body, body.size, k.trust)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	n := saved.len() // the map is the passes' once published
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.certs.len() == 0 {
		k.certs = saved
		return n, nil
	}
	saved.each(func(c *Cert) {
		if k.certs.get(c.Hash) == nil {
			k.certs.put(c)
		}
	})
	k.certs.compact()
	return n, nil
}

// errDamaged is a cache file whose body is not what its header says.
var errDamaged = errors.New("checksum mismatch: the file is damaged")

// cacheBody reads the body of a cache file, which is decoded as it is read
// rather than read whole: a whole file read at the start of a `certgal sync`
// would raise the heap the collector aims for by twice its size. Its SHA-256 is checked at its end: a reader that reaches it
// gets errDamaged instead of io.EOF when the body is not the one written, so
// a decoder keeps nothing it has not read to the end.
type cacheBody struct {
	f    *os.File
	h    hash.Hash
	want [32]byte
	size int64 // of the body
}

// openCacheFile opens the cache file at path if it was written for key, at
// the start of its body; nil and no error when there is no file.
func openCacheFile(path string, key [32]byte) (*cacheBody, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	head := make([]byte, cacheHeaderLen)
	if err == nil {
		_, err = io.ReadFull(f, head)
	}
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || err == nil && !bytes.HasPrefix(head, []byte(cacheMagic)):
		err = fmt.Errorf("%s: not a certgal cache", path)
	case err == nil && [32]byte(head[len(cacheMagic):]) != key:
		err = fmt.Errorf("%s: written for another format or trust set", path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &cacheBody{f: f, h: sha256.New(), want: [32]byte(head[len(cacheMagic)+32:]), size: st.Size() - int64(cacheHeaderLen)}, nil
}

func (b *cacheBody) Read(p []byte) (int, error) {
	n, err := b.f.Read(p)
	b.h.Write(p[:n])
	if err == io.EOF && [32]byte(b.h.Sum(nil)) != b.want {
		return n, errDamaged
	}
	return n, err
}

func (b *cacheBody) Close() error { return b.f.Close() }

func decodeCache(body io.Reader, size int64, trust *certsource.Trust) (certMap, error) {
	d := cacheDecoder{Reader: cacheio.NewReader(body, size)}
	if err := d.issuerTable(trust); err != nil {
		return certMap{}, err
	}
	count, err := d.header(size)
	if err != nil {
		return certMap{}, err
	}
	certs := make([]Cert, count)
	ptrs := make([]*Cert, count)
	for i := range certs {
		c := &certs[i]
		if err := d.cert(c); err != nil {
			return certMap{}, err
		}
		ptrs[i] = c
	}
	if d.off != len(d.s) {
		return certMap{}, errors.New("trailing bytes")
	}
	if err := d.End(); err != nil {
		return certMap{}, err
	}
	return sortedCertMap(ptrs), nil
}

// issuerTable reads the issuers the entries name: the trusted ones, then
// the foreign ones.
func (d *cacheDecoder) issuerTable(trust *certsource.Trust) error {
	for _, trusted := range []bool{true, false} {
		n := d.Uvarint()
		// Each takes a length of a byte at least.
		if d.Err() != nil || n > uint64(d.Left()) {
			return errors.New("issuer count out of range")
		}
		for range n {
			l := d.Uvarint()
			if d.Err() != nil || l > uint64(d.Left()) {
				return errors.New("issuer out of range")
			}
			s := d.String(int64(l))
			if d.Err() != nil {
				return d.Err()
			}
			is := &certIssuer{name: s}
			if trusted {
				is.id = certsource.IssuerID(s)
				if is.name = trust.Name(is.id); is.name == "" {
					return fmt.Errorf("issuer %s is not in the trust set", is.id)
				}
			}
			d.issuers = append(d.issuers, is)
		}
	}
	return nil
}

// header reads the count of entries and the strings they refer to.
func (d *cacheDecoder) header(size int64) (uint64, error) {
	count := d.Uvarint()
	// An entry takes 32+12+12 bytes at least: do not trust count further.
	if d.Err() != nil || count > uint64(size/56) {
		return 0, errors.New("more entries than the file holds")
	}
	n := d.Uvarint()
	if d.Err() != nil || n > uint64(size) {
		return 0, errors.New("strings out of range")
	}
	d.s = d.String(int64(n))
	return count, nil
}

// cert reads one entry into c.
func (d *cacheDecoder) cert(c *Cert) error {
	c.Hash = [32]byte(d.Next(32))
	if !c.setTimes(d.time(), d.time()) {
		d.Fail(errors.New("a certificate's time out of range"))
	}
	c.size = uint32(min(d.Uvarint(), math.MaxUint32))
	issuer := d.Uvarint()
	unusable := d.Uvarint()
	c.text = d.str()
	switch {
	case d.Err() != nil:
	case issuer == 0 || issuer > uint64(len(d.issuers)):
		d.Fail(errors.New("issuer out of range"))
	case unusable >= uint64(len(unusableReasons)):
		d.Fail(errors.New("unknown reason a certificate is unusable"))
	case !validText(c.text):
		d.Fail(errors.New("a serial or an address out of range"))
	default:
		c.issuer, c.unusable = d.issuers[issuer-1], uint8(unusable)
	}
	return d.Err()
}

// cacheDecoder reads a body: the entries from Reader, their strings from s,
// off being how much of s they took.
type cacheDecoder struct {
	*cacheio.Reader
	s       string
	off     int
	issuers []*certIssuer
}

func (d *cacheDecoder) str() string {
	n := d.Uvarint()
	if d.Err() == nil && n > uint64(len(d.s)-d.off) {
		d.Fail(errors.New("truncated string"))
	}
	if d.Err() != nil {
		return ""
	}
	out := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return out
}

// time reads a time in Unix seconds; a certificate's have no fraction
// (Cert.times): a file whose nanoseconds are not zero does not decode.
func (d *cacheDecoder) time() int64 {
	b := d.Next(12)
	if d.Err() == nil && binary.BigEndian.Uint32(b[8:]) != 0 {
		d.Fail(errors.New("a certificate's time with a fraction of a second"))
	}
	if d.Err() != nil {
		return 0
	}
	return int64(binary.BigEndian.Uint64(b))
}

// Fresh is how many certificates were classified (parsed, and their issuer
// checked) since the file cache was last saved.
func (k *Classifier) Fresh() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fresh
}

// SaveFile writes what the last two passes used to the file cache in dir,
// replacing the file at once (a reader sees the old file or the new one).
// Certificates that did not parse are left out: they are few and fail fast.
func (k *Classifier) SaveFile(dir string) (int, error) {
	k.mu.Lock()
	k.certs.compact() // written in order, a file is read back without sorting
	certs := make([]*Cert, 0, k.certs.len())
	k.certs.each(func(c *Cert) {
		if c.pass != 0 {
			certs = append(certs, c)
		}
	})
	k.fresh = 0
	k.mu.Unlock()

	var n int
	err := writeCacheStream(dir, cacheFileName(dir, k.trust), classificationKey(k.trust), func(w io.Writer) (err error) {
		n, err = encodeCache(w, certs)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// encodeCache writes the body of a classification file holding certs but the
// broken ones to w, and says how many it holds. It is written as it is made,
// the texts in one walk over certs and the records in another: it is saved
// while a pass that classified new certificates still holds its data, and a
// body made whole in memory first added its size to that pass's peak.
func encodeCache(w io.Writer, certs []*Cert) (int, error) {
	n, textLen := 0, 0
	for _, c := range certs {
		if !c.Broken {
			n++
			textLen += len(c.text)
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	issuers := newCacheIssuers(certs)
	for _, names := range [][]string{issuers.trusted, issuers.foreign} {
		bw.Write(binary.AppendUvarint(nil, uint64(len(names))))
		for _, s := range names {
			bw.Write(binary.AppendUvarint(nil, uint64(len(s))))
			bw.WriteString(s)
		}
	}
	bw.Write(binary.AppendUvarint(binary.AppendUvarint(nil, uint64(n)), uint64(textLen)))
	for _, c := range certs {
		if !c.Broken {
			bw.WriteString(c.text)
		}
	}
	rec := make([]byte, 0, 64)
	for _, c := range certs {
		if c.Broken {
			continue
		}
		rec = append(rec[:0], c.Hash[:]...)
		rec = appendTime(appendTime(rec, c.notBefore()), c.notAfter())
		rec = binary.AppendUvarint(rec, uint64(c.size))
		rec = binary.AppendUvarint(rec, uint64(issuers.number(c)))
		rec = binary.AppendUvarint(rec, uint64(c.unusable))
		rec = binary.AppendUvarint(rec, uint64(len(c.text)))
		bw.Write(rec) // a write's error stays in bw, for Flush
	}
	return n, bw.Flush()
}

// cacheIssuers are the issuers of a file's entries: the trusted ones by
// IssuerID, the others by name.
type cacheIssuers struct {
	trusted, foreign []string
	place            map[string]int // of a foreign name in foreign
}

func newCacheIssuers(certs []*Cert) cacheIssuers {
	out := cacheIssuers{place: map[string]int{}}
	for _, c := range certs {
		switch {
		case c.Broken:
		case c.Owned():
			if id := string(c.Issuer()); !slices.Contains(out.trusted, id) {
				out.trusted = append(out.trusted, id)
			}
		default:
			if _, ok := out.place[c.IssuerName()]; !ok {
				out.place[c.IssuerName()] = len(out.foreign)
				out.foreign = append(out.foreign, c.IssuerName())
			}
		}
	}
	return out
}

// number is c's issuer as a record writes it: its place in the issuers
// from 1, the trusted ones first.
func (is *cacheIssuers) number(c *Cert) int {
	if c.Owned() {
		return slices.Index(is.trusted, string(c.Issuer())) + 1
	}
	return len(is.trusted) + is.place[c.IssuerName()] + 1
}

// appendTime writes a time in Unix seconds, and the nanoseconds the format
// has room for, always 0 (Cert.times).
func appendTime(b []byte, unix int64) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(unix))
	return binary.BigEndian.AppendUint32(b, 0)
}

// tempPattern names the temporary files of writeAtomic; staleTemp is when one
// is surely left over from a process killed while writing.
const (
	tempPattern = ".classified-*"
	staleTemp   = 10 * time.Minute
)

// writeAtomic replaces path, in dir (made 0700 when missing), by what write
// writes: to a temporary file (0600) there, synced, and renamed. The
// temporary files of writers killed before their rename are removed.
func writeAtomic(dir, path string, write func(*os.File) error) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if old, _ := filepath.Glob(filepath.Join(dir, tempPattern)); len(old) > 0 {
		for _, f := range old {
			if st, err := os.Lstat(f); err == nil && time.Since(st.ModTime()) > staleTemp {
				os.Remove(f)
			}
		}
	}
	tmp, err := os.CreateTemp(dir, tempPattern)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename there is nothing to remove
	err = write(tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return err
}

// forgetSaved drops what the file cache held that no pass has met: once a
// pass has read the whole store and directory, those certificates are gone.
func (k *Classifier) forgetSaved() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.certs.each(func(c *Cert) {
		if c.pass == 0 {
			k.certs.remove(c.Hash)
		}
	})
	k.certs.compact()
}
