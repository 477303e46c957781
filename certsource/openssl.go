package certsource

import (
	"context"
	"crypto/x509"
	"path/filepath"
	"slices"
	"strings"
	stdsync "sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/config"
)

// OpenSSL reads an `openssl ca` or easy-rsa directory: index.txt for status,
// newcerts/ (or certs/, certs_by_serial/, issued/, and easy-rsa's
// revoked/certs_by_serial/) for the certificates, and the configured CRLs.
// It never opens private/ nor easy-rsa's private_by_serial/ and
// reqs_by_serial/.
type OpenSSL struct {
	dir      string
	layouts  layoutDirs // dir's, built once
	crlFiles []string
	trust    *Trust
	log      logrus.FieldLogger
	now      func() time.Time

	// quick is the last read of every file, for a read that finds nothing
	// changed; fullCheckEvery bounds how long it is trusted (see dirStamps).
	quick          *quickRead
	fullCheckEvery time.Duration

	mu    stdsync.Mutex
	cache *fileTable          // by path; a file is read and parsed again only when it changes
	crls  map[string]*crlRead // by path, likewise
	fresh int                 // files read since the cache was last saved or loaded
	// parsed is what Read keeps of the records of its lines, by position
	// in cache (see keepParsed); ReadUnparsed adds nothing to it.
	parsed map[int32]*x509.Certificate
}

// parsedOf is what Read kept of the file at pos; nil when nothing.
func (o *OpenSSL) parsedOf(pos int32) *x509.Certificate {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.parsed[pos]
}

// certificates are the Certificates of lines, with what Read parsed when
// mode is Read's.
func (o *OpenSSL) certificates(lines *readLines, mode readMode) []*Certificate {
	var parsed map[int32]*x509.Certificate
	o.mu.Lock()
	defer o.mu.Unlock()
	if mode.parsed {
		parsed = o.parsed
	}
	return lines.certificates(o.cache, parsed)
}

// keepParsed keeps what Read parsed of the records of lines, those of the
// read that becomes the quick read, and forgets the rest: files gone or
// changed. Under mu.
func (o *OpenSSL) keepParsed(lines *readLines) {
	if len(o.parsed) == 0 {
		return
	}
	kept := map[int32]*x509.Certificate{}
	for _, l := range lines.lines {
		if p, ok := o.parsed[l.file]; ok {
			kept[l.file] = p
		}
	}
	o.parsed = kept
}

// NewOpenSSL returns a source for cfg. The cache of parsed certificates lives as
// long as the returned value, so a daemon parses each certificate once.
func NewOpenSSL(cfg config.OpenSSL, trust *Trust, log logrus.FieldLogger) *OpenSSL {
	return &OpenSSL{dir: cfg.Dir, layouts: layoutDirsOf(cfg.Dir), crlFiles: cfg.CRLFiles, trust: trust, log: log, now: time.Now,
		cache: newFileTable(0), fullCheckEvery: fullCheckEvery}
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

// NewFilesFirst reports that a read meets the files it has not read before
// the others (parseAll reads index.txt's newest lines first) and, when it
// finds nothing changed, returns without reading any (quickRead): a
// consumer that holds back other work until the read has met a new file or
// ended (sync's directory read) waits for little.
func (o *OpenSSL) NewFilesFirst() bool { return true }

// readMode says what Read and ReadUnparsed do with a parsed certificate.
type readMode struct {
	parsed  bool    // keep it and return it (Read)
	inspect Inspect // ask it for the serial rather than parsing (ReadUnparsed)
}

// read is Read and ReadUnparsed. When nothing changed since the last read
// (see quickRead), it returns that read's certificates again; otherwise it
// parses index.txt, finds and reads each line's certificate file, and turns
// the R lines whose certificate is not there into revocations. The
// configured CRLs are read either way.
func (o *OpenSSL) read(ctx context.Context, mode readMode) (*Snapshot, error) {
	index := filepath.Join(o.dir, "index.txt")
	snap := &Snapshot{}
	o.mu.Lock()
	last := o.quick
	o.mu.Unlock()
	if o.unchangedSince(last, mode, index) {
		o.replay(snap, last, index)
		o.readCRLs(snap)
		return snap, nil
	}
	sum, entries, bad, err := readIndex(index, indexHint(last))
	if err != nil {
		return nil, err
	}
	o.skipBadLines(snap, index, bad)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o.mu.Lock()
	o.cache.reserve(len(entries))
	o.mu.Unlock()
	// Stamped before the files are read: a change while they are read makes
	// the next read a full one.
	var prev dirStamps
	if last != nil {
		prev = last.stamps
	}
	stamps := o.stampDirs(prev)
	checked := o.now()
	var problems []problem
	skip := func(reason string, fields logrus.Fields) {
		problems = append(problems, problem{reason, fields})
		o.skip(snap, reason, fields)
	}

	files, err := o.readFiles(ctx, entries, mode, skip)
	if err != nil {
		return nil, err
	}
	lines, unread := o.addCertificates(entries, files, skip)
	snap.Certificates = o.certificates(lines, mode)
	stamps.add(o.foundDirs(files)...)
	revs, caFiles, err := o.indexRevocations(ctx, unread, files, skip)
	if err != nil {
		return nil, err
	}
	stamps.add(caFiles...)
	snap.Revocations = revs
	o.mu.Lock()
	o.keepParsed(lines)
	o.quick = &quickRead{index: sum, bad: bad, parsed: mode.parsed, stamps: stamps, lines: lines,
		revs: slices.Clone(revs), problems: problems, at: checked}
	o.mu.Unlock()
	o.readCRLs(snap)
	return snap, nil
}

// indexHint is how many lines index.txt likely has, from the last read, with
// room for those added since (a CA renewing a tenth of its certificates);
// 0 when there was none.
func indexHint(last *quickRead) int {
	if last == nil {
		return 0
	}
	n := len(last.lines.lines) + len(last.bad)
	return n + n/8
}

// readFiles finds and reads the certificate file of each of index.txt's
// lines, by line (see parseAll), on every core; only the lines whose file is
// in none of openssl's layouts wait for easy-rsa's issued/ to be read (a
// file there that does not read is reported with skip).
func (o *OpenSSL) readFiles(ctx context.Context, entries []indexEntry, mode readMode, skip func(string, logrus.Fields)) ([]fileResult, error) {
	files := o.parseAll(ctx, len(entries), func(i int) location { return o.locate(entries[i]) }, mode)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var missing []int
	for i := range entries {
		if !files[i].found {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return files, nil
	}
	bySerial := o.issuedBySerial(ctx, skip) // easy-rsa issued/: serial → file
	more := o.parseAll(ctx, len(missing), func(k int) location {
		return location{path: bySerial[canonicalSerial(entries[missing[k]].SerialHex)], at: -1}
	}, mode)
	for k, i := range missing {
		files[i] = more[k]
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return files, nil
}

// addCertificates returns the certificate of each of index.txt's lines with
// the line's status, and the R lines whose certificate is not there, which
// revoke their serial all the same (indexRevocations). A line whose file is
// missing, does not read or holds another serial is skipped, except that a
// missing file of an R line is no problem: a revoked certificate's file may
// well be gone (revoked/ cleaned up), and its revocation is used.
func (o *OpenSSL) addCertificates(entries []indexEntry, files []fileResult,
	skip func(string, logrus.Fields)) (lines *readLines, unread []indexEntry) {
	lines = &readLines{lines: make([]readLine, 0, len(entries))}
	for i, e := range entries {
		reason, fields := o.lineProblem(e, files[i])
		if reason == "" {
			lines.add(files[i].at, e)
			continue
		}
		if e.Status == StatusRevoked {
			unread = append(unread, e)
		}
		if reason != "missing_certificate" || e.Status != StatusRevoked {
			skip(reason, fields)
		}
	}
	return lines, unread
}

// lineProblem is why the certificate of index.txt's line e is not used, ""
// when it is, with the fields to log; f is its file, as readFiles found it.
func (o *OpenSSL) lineProblem(e indexEntry, f fileResult) (reason string, fields logrus.Fields) {
	switch {
	case !f.found:
		reason = "missing_certificate"
	case f.err() != nil:
		reason = "bad_certificate"
	case !o.serialIs(f.at, canonicalSerial(e.SerialHex)):
		reason = "serial_mismatch"
	default:
		return "", nil
	}
	// A string of its own: the serial is part of a chunk of the read's
	// (parseIndex), and the quick read keeps its problems.
	fields = logrus.Fields{"serial": strings.Clone(e.SerialHex), "file": o.pathOf(f)}
	if f.err() != nil {
		fields["error"] = f.err().Error()
	}
	return reason, fields
}

// skipBadLines reports index.txt's lines that do not parse.
func (o *OpenSSL) skipBadLines(snap *Snapshot, index string, bad []badLine) {
	for _, b := range bad {
		o.skip(snap, "bad_index_line", logrus.Fields{"file": index, "line": b.line, "error": b.err})
	}
}

func (o *OpenSSL) skip(snap *Snapshot, reason string, fields logrus.Fields) {
	snap.Problem(reason)
	o.log.WithFields(fields).WithField("reason", reason).Warn("openssl source: skipped")
}
