package certsource

import (
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"
)

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
// once while they stay the same, not on each pass: a large CRL costs much
// memory to parse and a signature check (docs/BENCHMARKS.md, "Results, fifth
// round").
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
