package certsource

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	stdsync "sync"
	"time"

	"github.com/certgal/certgal/internal/parallel"

	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/config"
)

// OpenSSL reads an `openssl ca` or easy-rsa directory: index.txt for status,
// newcerts/ (or certs/, certs_by_serial/, issued/, and easy-rsa's
// revoked/certs_by_serial/) for the certificates, and the configured CRLs. It never opens private/ nor easy-rsa's private_by_serial/
// and reqs_by_serial/.
type OpenSSL struct {
	dir      string
	crlFiles []string
	trust    *Trust
	log      logrus.FieldLogger
	now      func() time.Time

	// quick is the last read of every file, for a read that finds nothing
	// changed; fullCheckEvery bounds how long it is trusted (see dirStamps).
	quick          *quickRead
	fullCheckEvery time.Duration

	layouts     [len(serialLayouts)]string // see layoutDirs
	revokedDir  string                     // revokedLayout, likewise
	layoutsOnce stdsync.Once

	mu    stdsync.Mutex
	cache map[string]*cachedFile // by path; a file is read and parsed again only when it changes
	crls  map[string]*crlRead    // by path, likewise
	fresh int                    // files read since the cache was last saved or loaded
}

// cachedFile is what is known of one certificate file while it is unchanged.
// cert and der are kept only once Read asked for them: ReadUnparsed keeps the
// hash and serial alone, as a CA's certificates take as much memory as they
// take disk, and a parsed certificate several times that.
type cachedFile struct {
	path   string // the cache's key: Origin shares it
	size   int64
	mtime  int64  // Unix ns
	ino    uint64 // and ctime: see statFile
	ctime  int64
	hash   [32]byte
	serial string      // SerialHex
	parsed *parsedFile // Read's; nil after ReadUnparsed

	// issuer is the trusted CA whose signature on the certificate
	// verifies ("" for none), once issuerChecked: see foundIssuers. Under mu.
	issuer        IssuerID
	issuerChecked bool
}

// parsedFile is what Read keeps of a file besides its cachedFile.
type parsedFile struct {
	der  []byte
	cert *x509.Certificate
}

func (f *cachedFile) der() []byte {
	if f.parsed == nil {
		return nil
	}
	return f.parsed.der
}

func (f *cachedFile) cert() *x509.Certificate {
	if f.parsed == nil {
		return nil
	}
	return f.parsed.cert
}

// NewOpenSSL returns a source for cfg. The cache of parsed certificates lives as
// long as the returned value, so a daemon parses each certificate once.
func NewOpenSSL(cfg config.OpenSSL, trust *Trust, log logrus.FieldLogger) *OpenSSL {
	return &OpenSSL{dir: cfg.Dir, crlFiles: cfg.CRLFiles, trust: trust, log: log, now: time.Now, cache: map[string]*cachedFile{},
		fullCheckEvery: fullCheckEvery}
}

// Read implements Source.
func (o *OpenSSL) Read(ctx context.Context) (*Snapshot, error) {
	return o.read(ctx, readMode{parsed: true})
}

// ReadUnparsed implements UnparsedSource: the snapshot of Read, but no
// certificate comes with Cert, and the source keeps no parsed copy. Those it
// has not read before (new or changed files) go to inspect, when not nil, on
// the goroutines that read them.
func (o *OpenSSL) ReadUnparsed(ctx context.Context, inspect Inspect) (*Snapshot, error) {
	return o.read(ctx, readMode{inspect: inspect})
}

// readMode says what Read and ReadUnparsed do with a parsed certificate.
type readMode struct {
	parsed  bool    // keep it and return it (Read)
	inspect Inspect // ask it for the serial rather than parsing (ReadUnparsed)
}

func (o *OpenSSL) read(ctx context.Context, mode readMode) (*Snapshot, error) {
	index := filepath.Join(o.dir, "index.txt")
	snap := &Snapshot{}
	badLines := func(bad []badLine) {
		for _, b := range bad {
			o.skip(snap, "bad_index_line", logrus.Fields{"file": index, "line": b.line, "error": b.err})
		}
	}
	o.mu.Lock()
	q := o.quick
	o.mu.Unlock()
	// index.txt is hashed as it streams: held whole only to be parsed, as
	// at 100,000 users it is 6 MB a pass to find that nothing changed. The
	// directories' stamps come first: a few stats, and when they differ
	// index.txt is read once, not hashed and then read.
	if q != nil && q.parsed == mode.parsed && o.now().Sub(q.at) < o.fullCheckEvery && q.stamps.unchanged() && hashFile(index) == q.index {
		// Nothing was added, removed or renamed where the certificates are,
		// and index.txt is the same: the files found last time are the ones,
		// and index.txt need not even be parsed again.
		badLines(q.bad)
		snap.Certificates = slices.Clone(q.certs)
		snap.Revocations = slices.Clone(q.revs)
		for _, p := range q.problems {
			o.skip(snap, p.reason, p.fields)
		}
		o.readCRLs(snap)
		return snap, nil
	}
	data, err := os.ReadFile(index)
	if err != nil {
		return nil, fmt.Errorf("openssl source: %w", err)
	}
	sum := sha256.Sum256(data)
	entries, bad, err := parseIndex(data)
	if err != nil {
		return nil, fmt.Errorf("openssl source: read %s: %w", index, err)
	}
	badLines(bad)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Stamped before the files are read: a change while they are read makes
	// the next read a full one.
	var prev dirStamps
	if q != nil {
		prev = q.stamps
	}
	stamps := o.stampDirs(prev)
	checked := o.now()
	var problems []problem
	skip := func(reason string, fields logrus.Fields) {
		problems = append(problems, problem{reason, fields})
		o.skip(snap, reason, fields)
	}

	// Find and read every file on every core; only the lines whose file is in
	// none of openssl's layouts wait for easy-rsa's issued/ to be read.
	files, errs := o.parseAll(ctx, len(entries), func(i int) (string, fileStat) { return o.locate(entries[i]) }, mode)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var missing []int
	for i := range entries {
		if errs[i] == nil {
			missing = append(missing, i)
		}
	}
	if len(missing) > 0 {
		bySerial := o.issuedBySerial(ctx, snap) // easy-rsa issued/: serial → file
		more, moreErrs := o.parseAll(ctx, len(missing), func(k int) (string, fileStat) {
			return bySerial[canonicalSerial(entries[missing[k]].SerialHex)], fileStat{}
		}, mode)
		for k, i := range missing {
			files[i], errs[i] = more[k], moreErrs[k]
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	paths := make([]string, len(entries))
	for i := range entries {
		if errs[i] != nil {
			paths[i] = errs[i].path
		}
	}
	snap.Certificates = make([]*Certificate, 0, len(entries))
	all := make([]Certificate, len(entries)) // one allocation, not one each
	var unread []indexEntry                  // R lines whose certificate is not in the snapshot
	for i, e := range entries {
		var reason string
		var readErr error
		switch {
		case paths[i] == "":
			reason = "missing_certificate"
		case errs[i].err != nil:
			reason, readErr = "bad_certificate", errs[i].err
		case files[i].serial != canonicalSerial(e.SerialHex):
			reason = "serial_mismatch"
		}
		if reason != "" {
			if e.Status == StatusRevoked {
				// The line revokes its serial all the same (indexRevocations).
				unread = append(unread, e)
			}
			// A revoked certificate's file may well be gone (revoked/
			// cleaned up); not a problem when its revocation is used.
			if reason != "missing_certificate" || e.Status != StatusRevoked {
				fields := logrus.Fields{"serial": e.SerialHex, "file": paths[i]}
				if readErr != nil {
					fields["error"] = readErr.Error()
				}
				skip(reason, fields)
			}
			continue
		}
		f := files[i]
		c := &all[i]
		*c = Certificate{Cert: f.cert(), DER: f.der(), Hash: f.hash, Origin: f.path, Status: e.Status, RevokedAt: e.RevokedAt, Reason: e.Reason}
		snap.Certificates = append(snap.Certificates, c)
	}
	stamps.add(paths)
	revs, caFiles, err := o.indexRevocations(ctx, unread, files, skip)
	if err != nil {
		return nil, err
	}
	stamps.add(caFiles)
	snap.Revocations = revs
	o.mu.Lock()
	o.quick = &quickRead{index: sum, bad: bad, parsed: mode.parsed, stamps: stamps, certs: slices.Clone(snap.Certificates),
		revs: slices.Clone(revs), problems: problems, at: checked}
	o.mu.Unlock()
	o.readCRLs(snap)
	return snap, nil
}

// badLine is an index.txt line that does not parse.
type badLine struct {
	line int
	err  string
}

// parseIndex parses index.txt. Nothing of it is kept: a read that finds
// index.txt the same as the last (see quickRead) does not need it.
func parseIndex(data []byte) (entries []indexEntry, bad []badLine, err error) {
	entries = make([]indexEntry, 0, bytes.Count(data, []byte{'\n'})+1)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			continue
		}
		e, err := parseIndexLine(line)
		if err != nil {
			bad = append(bad, badLine{n, err.Error()})
			continue
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, err
	}
	return entries, bad, nil
}

func (o *OpenSSL) skip(snap *Snapshot, reason string, fields logrus.Fields) {
	snap.Problem(reason)
	o.log.WithFields(fields).WithField("reason", reason).Warn("openssl source: skipped")
}

// serialLayouts are the directories where openssl and easy-rsa keep a
// certificate as SERIAL.pem.
var serialLayouts = [...]string{"newcerts", "certs", "certs_by_serial"}

// revokedLayout is where easy-rsa 3.0.6 and later move a revoked certificate,
// as SERIAL.crt (its key goes to revoked/private_by_serial/, never opened;
// beside SERIAL.crt may lie SERIAL.p12 and the like, which hold keys and are
// never opened either).
var revokedLayout = filepath.Join("revoked", "certs_by_serial")

// locate finds the certificate file of an index line among the layouts openssl
// and easy-rsa use. It returns "" when none exists. easy-rsa's revoked/ is
// looked in for a revoked line only: what lies there is known by its line.
func (o *OpenSSL) locate(e indexEntry) (string, fileStat) {
	if e.File != "" && e.File != "unknown" {
		if p, ok := o.inside(e.File); ok {
			if st, err := statFile(p); err == nil && st.regular {
				return p, st
			}
		}
	}
	// A serial is hexadecimal (parseIndexLine): SERIAL.pem is inside each
	// layout as it is, with none of inside's work.
	for _, d := range o.layoutDirs() {
		p := d + e.SerialHex + ".pem"
		if st, err := statFile(p); err == nil && st.regular {
			return p, st
		}
	}
	if e.Status == StatusRevoked {
		p := o.revokedDir + e.SerialHex + ".crt"
		if st, err := statFile(p); err == nil && st.regular {
			return p, st
		}
	}
	return "", fileStat{}
}

// layoutDirs is each of serialLayouts under the CA directory, with a
// separator after it.
func (o *OpenSSL) layoutDirs() [len(serialLayouts)]string {
	o.layoutsOnce.Do(func() {
		for i, d := range serialLayouts {
			o.layouts[i] = filepath.Join(o.dir, d) + string(filepath.Separator)
		}
		o.revokedDir = filepath.Join(o.dir, revokedLayout) + string(filepath.Separator)
	})
	return o.layouts
}

// inside resolves rel under the CA directory, refusing anything outside it and
// anything under a directory where keys are kept: private/ (the CA's key, and
// easy-rsa's keys of every certificate), easy-rsa's private_by_serial/ (keys
// of revoked and renewed certificates) and reqs_by_serial/ (their requests),
// and any file named as a key.
func (o *OpenSSL) inside(rel string) (string, bool) {
	if filepath.IsAbs(rel) {
		r, err := filepath.Rel(o.dir, rel)
		if err != nil {
			return "", false
		}
		rel = r
	}
	rel = filepath.Clean(rel)
	if rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	dirs := strings.Split(filepath.Dir(rel), string(filepath.Separator))
	if slices.ContainsFunc(dirs, keyDir) || keyDir(rel) || keyFile(rel) {
		return "", false
	}
	return filepath.Join(o.dir, rel), true
}

// keyDir reports whether a directory of that name holds keys (see inside).
func keyDir(name string) bool {
	return name == "private" || name == "private_by_serial" || name == "reqs_by_serial"
}

// keyFile reports whether a file of that name holds a key, by the names
// easy-rsa gives them: NAME.key, and NAME.p12, .p8, .p1 beside a certificate.
func keyFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".key", ".p12", ".pfx", ".p8", ".p1":
		return true
	}
	return false
}

// issuedBySerial maps serials to easy-rsa's issued/NAME.crt files.
func (o *OpenSSL) issuedBySerial(ctx context.Context, snap *Snapshot) map[string]string {
	m := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(o.dir, "issued", "*.crt"))
	certs, errs := o.parseAll(ctx, len(files), func(i int) (string, fileStat) { return files[i], fileStat{} }, readMode{})
	for i, f := range files {
		if errs[i] != nil && errs[i].err != nil {
			o.skip(snap, "bad_certificate", logrus.Fields{"file": f, "error": errs[i].err.Error()})
			continue
		}
		if certs[i] != nil {
			m[certs[i].serial] = f
		}
	}
	return m
}

// fileError is where a certificate file is, and why it could not be read
// (err nil: found and read).
type fileError struct {
	path string
	err  error
}

// parseAll reads n files on every core, each found by locate (a zero fileStat
// makes it stat the path itself; "" means no file), using the cache for
// unchanged files. A file's result is nil with a nil fileError when locate
// found none. With mode.parsed, every result carries its parsed certificate.
func (o *OpenSSL) parseAll(ctx context.Context, n int, locate func(int) (string, fileStat), mode readMode) ([]*cachedFile, []*fileError) {
	files := make([]*cachedFile, n)
	errs := make([]*fileError, n)
	parallel.For(ctx, n, parallel.Options{Batch: parseBatch}, func() func(int) {
		var buf []byte // one read buffer per worker: the files are small
		return func(i int) {
			path, st := locate(i)
			if path == "" {
				return
			}
			f, err := o.parseFile(path, st, mode, &buf)
			files[i] = f
			errs[i] = &fileError{path: path, err: err}
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
	o.mu.Lock()
	c, ok := o.cache[path]
	o.mu.Unlock()
	// Read wants the parsed certificate: a file ReadUnparsed read is read again.
	if ok && c.size == st.size && c.mtime == st.mtime && c.ino == st.ino && c.ctime == st.ctime &&
		(!mode.parsed || c.parsed != nil) {
		return c, nil // never changed once cached
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
	f := &cachedFile{path: path, size: st.size, mtime: st.mtime, ino: st.ino, ctime: st.ctime, hash: sha256.Sum256(der)}
	if !mode.parsed && mode.inspect != nil {
		// The consumer parses, or knows the certificate by its hash already;
		// nothing of the file is kept but its hash and serial.
		if f.serial, err = mode.inspect(der, f.hash); err != nil {
			return nil, err
		}
	} else {
		if mode.parsed && &der[0] == &data[0] {
			der = bytes.Clone(der) // kept, and a DER file's data is the reused buffer
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		f.serial = SerialHex(cert.SerialNumber)
		if mode.parsed {
			f.parsed = &parsedFile{der: der, cert: cert}
		}
	}
	o.mu.Lock()
	o.cache[path] = f
	o.fresh++
	o.mu.Unlock()
	return f, nil
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
	// publish loads 100,000 files, and a stat each was a quarter of this
	// function's time.
	// A file changed since reads short or hashes differently below.
	o.mu.Lock()
	f := o.cache[c.Origin]
	o.mu.Unlock()
	var size int64
	if f != nil && f.hash == c.Hash {
		size = f.size
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
// read again for the end, which for 120,000 small files is a good part of a
// first pass. A file that changed meanwhile reads short and fails, or has a
// new size or mtime on the next pass and is read again.
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

func (o *OpenSSL) readCRLs(snap *Snapshot) {
	for _, f := range o.crlFiles {
		p := f
		if !filepath.IsAbs(p) {
			var ok bool
			if p, ok = o.inside(f); !ok {
				o.skip(snap, "bad_crl", logrus.Fields{"file": f, "error": "path leaves the CA directory or enters a directory or file that holds keys"})
				continue
			}
		}
		data, err := os.ReadFile(p)
		if err != nil {
			reason := "bad_crl"
			if errors.Is(err, fs.ErrNotExist) {
				reason = "missing_crl"
			}
			o.skip(snap, reason, logrus.Fields{"file": p, "error": err.Error()})
			continue
		}
		crl := o.crl(p, data)
		if crl.err != nil {
			o.skip(snap, "bad_crl", logrus.Fields{"file": p, "error": crl.err.Error()})
			continue
		}
		if err := staleCRL(crl.nextUpdate, o.now()); err != nil {
			snap.Problem("stale_crl")
			o.log.WithFields(logrus.Fields{"file": p, "error": err.Error()}).Warn("openssl source: stale CRL used")
		}
		snap.Revocations = append(snap.Revocations, crl.revs...)
	}
}

// crlRead is what a CRL file's bytes gave; whether it is stale is a matter
// of the time of each read.
type crlRead struct {
	sum        [32]byte // SHA-256 of the file
	revs       []Revocation
	nextUpdate time.Time
	err        error // why it is not used
}

// crl is what the CRL at path with these bytes gives, parsed and verified
// once while they stay the same: a CRL of 5,000 revocations was 8 MB and a
// signature check each pass.
func (o *OpenSSL) crl(path string, data []byte) *crlRead {
	sum := sha256.Sum256(data)
	o.mu.Lock()
	c := o.crls[path]
	o.mu.Unlock()
	if c != nil && c.sum == sum {
		return c
	}
	c = &crlRead{sum: sum}
	c.revs, c.nextUpdate, c.err = parseCRL(data, o.trust)
	o.mu.Lock()
	if o.crls == nil {
		o.crls = map[string]*crlRead{}
	}
	o.crls[path] = c
	o.mu.Unlock()
	return c
}
