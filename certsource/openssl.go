package certsource

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	stdsync "sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/config"
)

// OpenSSL reads an `openssl ca` or easy-rsa directory: index.txt for status,
// newcerts/ (or certs/, certs_by_serial/, issued/) for the certificates, and
// the configured CRLs. It never opens private/.
type OpenSSL struct {
	dir      string
	crlFiles []string
	trust    *Trust
	log      logrus.FieldLogger
	now      func() time.Time

	mu    stdsync.Mutex
	cache map[string]cachedFile // by path; a file is parsed again only when it changes
}

type cachedFile struct {
	size  int64
	mtime time.Time
	cert  *x509.Certificate
}

// NewOpenSSL returns a source for cfg. The cache of parsed certificates lives as
// long as the returned value, so a daemon parses each certificate once.
func NewOpenSSL(cfg config.OpenSSL, trust *Trust, log logrus.FieldLogger) *OpenSSL {
	return &OpenSSL{dir: cfg.Dir, crlFiles: cfg.CRLFiles, trust: trust, log: log, now: time.Now, cache: map[string]cachedFile{}}
}

// Read implements Source.
func (o *OpenSSL) Read(ctx context.Context) (*Snapshot, error) {
	index := filepath.Join(o.dir, "index.txt")
	data, err := os.ReadFile(index)
	if err != nil {
		return nil, fmt.Errorf("openssl source: %w", err)
	}
	snap := &Snapshot{}
	var entries []indexEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if line == "" {
			continue
		}
		e, err := parseIndexLine(line)
		if err != nil {
			o.skip(snap, "bad_index_line", logrus.Fields{"file": index, "line": n, "error": err.Error()})
			continue
		}
		entries = append(entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("openssl source: read %s: %w", index, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	var bySerial map[string]string // easy-rsa issued/: serial → file, built only when needed
	paths := make([]string, len(entries))
	for i, e := range entries {
		paths[i] = o.locate(e)
		if paths[i] == "" {
			if bySerial == nil {
				bySerial = o.issuedBySerial(ctx, snap)
			}
			paths[i] = bySerial[e.SerialHex]
		}
	}
	certs, errs := o.parseAll(ctx, paths)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, e := range entries {
		fields := logrus.Fields{"serial": e.SerialHex, "file": paths[i]}
		switch {
		case paths[i] == "":
			o.skip(snap, "missing_certificate", fields)
			continue
		case errs[i] != nil:
			fields["error"] = errs[i].Error()
			o.skip(snap, "bad_certificate", fields)
			continue
		case certs[i].SerialNumber.Cmp(e.Serial) != 0:
			o.skip(snap, "serial_mismatch", fields)
			continue
		}
		c := NewCertificate(certs[i], paths[i])
		c.Status, c.RevokedAt, c.Reason = e.Status, e.RevokedAt, e.Reason
		snap.Certificates = append(snap.Certificates, c)
	}
	o.readCRLs(snap)
	return snap, nil
}

func (o *OpenSSL) skip(snap *Snapshot, reason string, fields logrus.Fields) {
	snap.Problem(reason)
	o.log.WithFields(fields).WithField("reason", reason).Warn("openssl source: skipped")
}

// locate finds the certificate file of an index line among the layouts openssl
// and easy-rsa use. It returns "" when none exists.
func (o *OpenSSL) locate(e indexEntry) string {
	var candidates []string
	if e.File != "" && e.File != "unknown" {
		candidates = append(candidates, e.File)
	}
	for _, d := range []string{"newcerts", "certs", "certs_by_serial"} {
		candidates = append(candidates, filepath.Join(d, e.SerialHex+".pem"))
	}
	for _, rel := range candidates {
		p, ok := o.inside(rel)
		if !ok {
			continue
		}
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

// inside resolves rel under the CA directory, refusing anything outside it and
// anything under private/, where the CA keeps its key.
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
	first, _, _ := strings.Cut(rel, string(filepath.Separator))
	if first == "private" {
		return "", false
	}
	return filepath.Join(o.dir, rel), true
}

// issuedBySerial maps serials to easy-rsa's issued/NAME.crt files.
func (o *OpenSSL) issuedBySerial(ctx context.Context, snap *Snapshot) map[string]string {
	m := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(o.dir, "issued", "*.crt"))
	certs, errs := o.parseAll(ctx, files)
	for i, f := range files {
		if errs[i] != nil {
			o.skip(snap, "bad_certificate", logrus.Fields{"file": f, "error": errs[i].Error()})
			continue
		}
		m[strings.ToUpper(certs[i].SerialNumber.Text(16))] = f
	}
	return m
}

// parseAll parses files on every core, using the cache for unchanged files.
func (o *OpenSSL) parseAll(ctx context.Context, paths []string) ([]*x509.Certificate, []error) {
	certs := make([]*x509.Certificate, len(paths))
	errs := make([]error, len(paths))
	work := make(chan int)
	var wg stdsync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				certs[i], errs[i] = o.parseFile(paths[i])
			}
		}()
	}
feed:
	for i, p := range paths {
		if p == "" {
			continue
		}
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	return certs, errs
}

func (o *OpenSSL) parseFile(path string) (*x509.Certificate, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	c, ok := o.cache[path]
	o.mu.Unlock()
	if ok && c.size == st.Size() && c.mtime.Equal(st.ModTime()) {
		return c.cert, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cert, err := ParseCertificate(data)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	o.cache[path] = cachedFile{size: st.Size(), mtime: st.ModTime(), cert: cert}
	o.mu.Unlock()
	return cert, nil
}

// ParseCertificate reads one certificate, PEM or DER. Text before the PEM
// block (openssl's -text output) is ignored; a private key is refused without
// being decoded.
func ParseCertificate(data []byte) (*x509.Certificate, error) {
	if bytes.Contains(data, []byte("PRIVATE KEY-----")) {
		return nil, errors.New("file contains a private key; refused")
	}
	if block, _ := pem.Decode(data); block != nil {
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q is not a CERTIFICATE", block.Type)
		}
		data = block.Bytes
	}
	return x509.ParseCertificate(data)
}

func (o *OpenSSL) readCRLs(snap *Snapshot) {
	for _, f := range o.crlFiles {
		p := f
		if !filepath.IsAbs(p) {
			var ok bool
			if p, ok = o.inside(f); !ok {
				o.skip(snap, "bad_crl", logrus.Fields{"file": f, "error": "path leaves the CA directory or enters private/"})
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
		revs, err := ParseCRL(data, o.trust, o.now())
		if errors.Is(err, ErrStaleCRL) {
			snap.Problem("stale_crl")
			o.log.WithFields(logrus.Fields{"file": p, "error": err.Error()}).Warn("openssl source: stale CRL used")
		} else if err != nil {
			o.skip(snap, "bad_crl", logrus.Fields{"file": p, "error": err.Error()})
			continue
		}
		snap.Revocations = append(snap.Revocations, revs...)
	}
}
