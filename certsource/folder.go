package certsource

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	stdsync "sync"
	"time"

	"github.com/certgal/certgal/internal/parallel"

	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/config"
)

// maxFolderFile bounds what one drop-folder file may cost in memory; a CRL of
// a million entries is about 40 MB.
const maxFolderFile = 64 << 20

// Folder reads a drop folder where a CA or an admin leaves issued certificates
// (PEM, DER, PKCS#7) and CRLs. Revocation comes only from CRLs that verify
// against the trusted CAs. PKCS#12 files and private keys are refused and
// reported, never used and never logged. Names starting with a dot (editors'
// and copy tools' temporary files) are not read.
type Folder struct {
	dir       string
	recursive bool
	trust     *Trust
	log       logrus.FieldLogger
	now       func() time.Time

	mu    stdsync.Mutex
	cache map[string]folderFile // by path; a file is read again only when its size or mtime changes
}

type folderFile struct {
	size    int64
	mtime   time.Time
	content fileContent
	crls    []folderCRL // content.crls checked against trust once
}

// folderCRL is a CRL whose signature was checked when the file was read; only
// its freshness depends on the time of the pass.
type folderCRL struct {
	issuer     IssuerID
	revs       []Revocation
	nextUpdate time.Time
	err        error // did not verify
}

// NewFolder returns a source for cfg. The cache of parsed files lives as long
// as the returned value.
func NewFolder(cfg config.Folder, trust *Trust, log logrus.FieldLogger) *Folder {
	return &Folder{dir: cfg.Dir, recursive: cfg.Recursive, trust: trust, log: log, now: time.Now, cache: map[string]folderFile{}}
}

// Read implements Source. A folder that is missing or cannot be listed is an
// error, so the pass deletes nothing; a file that cannot be used is skipped,
// counted and logged.
func (f *Folder) Read(ctx context.Context) (*Snapshot, error) {
	st, err := os.Stat(f.dir)
	if err != nil {
		return nil, fmt.Errorf("folder source: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("folder source: %s is not a directory", f.dir)
	}
	files, err := f.list(ctx)
	if err != nil {
		return nil, fmt.Errorf("folder source: %w", err)
	}
	snap := &Snapshot{}
	entries := f.load(ctx, snap, files)
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	now := f.now()
	seen := map[[32]byte]bool{}
	for i, path := range files {
		e, ok := entries[i]
		if !ok {
			continue
		}
		if e.content.refused != "" {
			// Never the content, not even a subject: the file holds key material.
			f.skip(snap, e.content.refused, logrus.Fields{"file": path})
			continue
		}
		f.addCertificates(snap, path, e.content, seen)
		f.addCRLs(snap, path, e.crls, now)
	}
	return snap, nil
}

// addCertificates puts the certificates of the file at path in snap, but for
// CA certificates and those already in seen (by hash), and reports the file's
// problems.
func (f *Folder) addCertificates(snap *Snapshot, path string, content fileContent, seen map[[32]byte]bool) {
	for _, p := range content.problems {
		f.skip(snap, p.reason, logrus.Fields{"file": path, "error": p.err.Error()})
	}
	for _, c := range content.certs {
		if c.IsCA {
			// p7b bundles usually carry the chain; CA certificates are nobody's mail key.
			continue
		}
		cert := NewCertificate(c, path)
		if seen[cert.Hash] {
			continue
		}
		seen[cert.Hash] = true
		snap.Certificates = append(snap.Certificates, cert)
	}
}

// addCRLs puts the revocations of the CRLs of the file at path that verified
// in snap. A CRL past its nextUpdate is used, and freezes its issuer: what the
// CRL does not say yet may have been revoked since.
func (f *Folder) addCRLs(snap *Snapshot, path string, crls []folderCRL, now time.Time) {
	for _, crl := range crls {
		if crl.err != nil {
			f.skip(snap, ReasonBadCRL, logrus.Fields{"file": path, "error": crl.err.Error()})
			continue
		}
		snap.Revocations = append(snap.Revocations, crl.revs...)
		if !crl.nextUpdate.IsZero() && now.After(crl.nextUpdate) {
			f.freeze(snap, path, crl)
		}
	}
}

// freeze reports crl, of the file at path, as stale and freezes its issuer.
func (f *Folder) freeze(snap *Snapshot, path string, crl folderCRL) {
	next := crl.nextUpdate.UTC().Format(time.RFC3339)
	snap.Problem(ReasonStaleCRL)
	if snap.Frozen == nil {
		snap.Frozen = map[IssuerID]string{}
	}
	if snap.Frozen[crl.issuer] == "" {
		snap.Frozen[crl.issuer] = fmt.Sprintf("stale CRL %s (nextUpdate %s)", path, next)
	}
	f.log.WithFields(logrus.Fields{"file": path, "issuer": f.trust.Name(crl.issuer), "next_update": next, "reason": ReasonStaleCRL}).
		Warn("folder source: stale CRL: its issuer's certificates are neither added nor removed")
}

func (f *Folder) skip(snap *Snapshot, reason string, fields logrus.Fields) {
	snap.Problem(reason)
	f.log.WithFields(fields).WithField("reason", reason).Warn("folder source: skipped")
}

// list returns the regular files of the folder (and its subfolders when
// recursive), sorted. A subfolder that cannot be listed is an error: what it
// holds would be missing from the snapshot.
func (f *Folder) list(ctx context.Context) ([]string, error) {
	var files []string
	err := filepath.WalkDir(f.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if path == f.dir {
			return nil
		}
		hidden := strings.HasPrefix(d.Name(), ".")
		if d.IsDir() {
			if hidden || !f.recursive {
				return filepath.SkipDir
			}
			return nil
		}
		if hidden {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			// A link to a file is followed; a link to a directory is not walked.
			if st, err := os.Stat(path); err != nil || !st.Mode().IsRegular() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		files = append(files, path)
		return nil
	})
	sort.Strings(files)
	return files, err
}

// load returns each file's content by index, reading and parsing on every core
// only the files whose size or mtime changed since the last pass. Files it
// cannot stat or read are skipped and counted; their index has no entry.
func (f *Folder) load(ctx context.Context, snap *Snapshot, files []string) map[int]folderFile {
	out := make(map[int]folderFile, len(files))
	type job struct {
		i     int
		size  int64
		mtime time.Time
	}
	var jobs []job
	stats := make([]fs.FileInfo, len(files))
	for i, path := range files {
		st, err := os.Stat(path)
		if err != nil {
			f.skip(snap, ReasonUnreadableFile, logrus.Fields{"file": path, "error": err.Error()})
			continue
		}
		stats[i] = st
	}
	f.mu.Lock()
	live := make(map[string]bool, len(files))
	for i, path := range files {
		live[path] = true
		st := stats[i]
		if st == nil {
			continue
		}
		if c, ok := f.cache[path]; ok && c.size == st.Size() && c.mtime.Equal(st.ModTime()) {
			out[i] = c
			continue
		}
		jobs = append(jobs, job{i, st.Size(), st.ModTime()})
	}
	for path := range f.cache {
		if !live[path] {
			delete(f.cache, path)
		}
	}
	f.mu.Unlock()

	results := make([]folderFile, len(jobs))
	errs := make([]error, len(jobs))
	parallel.For(ctx, len(jobs), parallel.Options{}, func() func(int) {
		return func(k int) {
			j := jobs[k]
			results[k], errs[k] = f.parse(files[j.i], j.size)
			results[k].size, results[k].mtime = j.size, j.mtime
		}
	})
	if ctx.Err() != nil {
		return out
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	for k, j := range jobs {
		path := files[j.i]
		if errs[k] != nil {
			reason := ReasonUnreadableFile
			if errors.Is(errs[k], errTooLarge) {
				reason = ReasonFileTooLarge
			}
			snap.Problem(reason)
			f.log.WithFields(logrus.Fields{"file": path, "error": errs[k].Error(), "reason": reason}).Warn("folder source: skipped")
			continue
		}
		f.cache[path] = results[k]
		out[j.i] = results[k]
	}
	return out
}

var errTooLarge = errors.New("file too large")

// parse reads and classifies one file; a PKCS#12 by name is not even opened.
func (f *Folder) parse(path string, size int64) (folderFile, error) {
	if refusedByName(path) {
		return folderFile{content: fileContent{refused: ReasonRefusedPKCS12}}, nil
	}
	if size > maxFolderFile {
		return folderFile{}, fmt.Errorf("%w: %d bytes, at most %d", errTooLarge, size, maxFolderFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return folderFile{}, err
	}
	ff := folderFile{content: classifyFile(path, data)}
	for _, crl := range ff.content.crls {
		issuer, revs, err := verifyCRL(crl, f.trust)
		ff.crls = append(ff.crls, folderCRL{issuer: issuer, revs: revs, nextUpdate: crl.NextUpdate, err: err})
	}
	// The parsed CRLs are not needed any more: only what was verified is kept.
	ff.content.crls = nil
	return ff, nil
}
