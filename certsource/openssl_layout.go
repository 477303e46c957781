package certsource

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"unsafe"

	"github.com/sirupsen/logrus"
)

// serialLayouts are the directories where openssl and easy-rsa keep a
// certificate as SERIAL.pem.
var serialLayouts = [...]string{"newcerts", "certs", "certs_by_serial"}

// revokedLayout is where easy-rsa 3.0.6 and later move a revoked certificate,
// as SERIAL.crt (its key goes to revoked/private_by_serial/, never opened;
// beside SERIAL.crt may lie SERIAL.p12 and the like, which hold keys and are
// never opened either).
var revokedLayout = filepath.Join("revoked", "certs_by_serial")

// locate finds the certificate file of an index line among the layouts openssl
// and easy-rsa use; none found, it returns no path and at -1. easy-rsa's
// revoked/ is looked in for a revoked line only: what lies there is known by
// its line.
func (o *OpenSSL) locate(e indexEntry) location {
	if file := e.File(); file != "" && file != unknownFile {
		if p, ok := o.inside(file); ok {
			if st, err := statFile(p); err == nil && st.regular {
				return location{path: p, at: -1, st: st}
			}
		}
	}
	// A serial is hexadecimal (parseIndexLine): SERIAL.pem is inside each
	// layout as it is, with none of inside's work.
	var name [128]byte
	for _, d := range o.layouts.serial {
		if l, ok := o.locateName(append(append(append(name[:0], d...), e.SerialHex...), ".pem"...)); ok {
			return l
		}
	}
	if e.Status == StatusRevoked {
		if l, ok := o.locateName(append(append(append(name[:0], o.layouts.revoked...), e.SerialHex...), ".crt"...)); ok {
			return l
		}
	}
	return location{at: -1}
}

// locateName is the location of the file at p when it is a regular file:
// by the cache's record, when it has one of p, so that a full read of a
// store it knows makes no string for each of its files.
func (o *OpenSSL) locateName(p []byte) (location, bool) {
	// p is only looked at while stat runs (see stat).
	st, err := stat(unsafe.String(unsafe.SliceData(p), len(p)))
	if err != nil || !st.regular {
		return location{}, false
	}
	o.mu.Lock()
	at := o.cache.findBytes(p)
	o.mu.Unlock()
	if at >= 0 {
		return location{at: at, st: st}, true
	}
	return location{path: string(p), at: -1, st: st}, true
}

// layoutDirs are the directories locate looks in for SERIAL.pem and
// SERIAL.crt under one CA directory, each with a separator after it, so that
// a path is the directory and the file name put together: built once, not
// joined and cleaned for each of index.txt's lines.
type layoutDirs struct {
	serial  [len(serialLayouts)]string // serialLayouts
	revoked string                     // revokedLayout
}

func layoutDirsOf(dir string) layoutDirs {
	var l layoutDirs
	for i, d := range serialLayouts {
		l.serial[i] = filepath.Join(dir, d) + string(filepath.Separator)
	}
	l.revoked = filepath.Join(dir, revokedLayout) + string(filepath.Separator)
	return l
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

// issuedBySerial maps serials to easy-rsa's issued/NAME.crt files; a file
// that does not read is reported with skip.
func (o *OpenSSL) issuedBySerial(ctx context.Context, skip func(string, logrus.Fields)) map[string]string {
	m := map[string]string{}
	files, _ := filepath.Glob(filepath.Join(o.dir, "issued", "*.crt"))
	read := o.parseAll(ctx, len(files), func(i int) location { return location{path: files[i], at: -1} }, readMode{})
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, f := range files {
		if err := read[i].err(); err != nil {
			skip("bad_certificate", logrus.Fields{"file": f, "error": err.Error()})
			continue
		}
		if read[i].found {
			m[o.cache.serial(read[i].at)] = f
		}
	}
	return m
}
