package certsource

import (
	"context"
	"path/filepath"
	"slices"
	"strings"

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
	var name [128]byte
	for _, d := range o.layouts.serial {
		p := o.cachedPath(append(append(append(name[:0], d...), e.SerialHex...), ".pem"...))
		if st, err := statFile(p); err == nil && st.regular {
			return p, st
		}
	}
	if e.Status == StatusRevoked {
		p := o.cachedPath(append(append(append(name[:0], o.layouts.revoked...), e.SerialHex...), ".crt"...))
		if st, err := statFile(p); err == nil && st.regular {
			return p, st
		}
	}
	return "", fileStat{}
}

// cachedPath is the path p as a string: the cache's, when it has a record
// of the file, so that a full read of a store it knows makes no string for
// each of its files.
func (o *OpenSSL) cachedPath(p []byte) string {
	o.mu.Lock()
	f := o.cache.getBytes(p)
	o.mu.Unlock()
	if f != nil {
		return f.path
	}
	return string(p)
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
	certs, errs := o.parseAll(ctx, len(files), func(i int) (string, fileStat) { return files[i], fileStat{} }, readMode{})
	for i, f := range files {
		if errs[i].err != nil {
			skip("bad_certificate", logrus.Fields{"file": f, "error": errs[i].err.Error()})
			continue
		}
		if certs[i] != nil {
			m[certs[i].serial] = f
		}
	}
	return m
}
