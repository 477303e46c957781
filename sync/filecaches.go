package sync

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/certsource"
)

// fileCaches keeps the classifier's and the source's caches in files between
// processes (see cachefile.go), so a restarted daemon or the next `certgal
// sync` parses and verifies nothing it has seen. They are only caches: one
// that cannot be read or written costs time, never a pass.
type fileCaches struct {
	source  certsource.Source
	classes *Classifier
	log     logrus.FieldLogger
	loaded  bool
}

// load reads the file caches, the source's and the classifier's, once per
// Syncer, from dir ("": none), beside each other and beside the directory
// connection's set-up; each channel is closed when that one is done.
func (f *fileCaches) load(dir string) (sourceLoaded, classesLoaded <-chan struct{}) {
	srcDone, classDone := make(chan struct{}), make(chan struct{})
	if dir == "" || f.loaded {
		close(srcDone)
		close(classDone)
		return srcDone, classDone
	}
	f.loaded = true
	go func() {
		defer close(srcDone)
		f.loadSource(dir)
	}()
	go func() {
		defer close(classDone)
		start := time.Now()
		n, err := f.classes.LoadFile(dir)
		if err != nil {
			f.log.WithField("error", err.Error()).Warn("classification cache not used")
			return
		}
		f.log.WithFields(logrus.Fields{"certificates": n, "duration": since(start)}).Debug("classification cache loaded")
	}()
	return srcDone, classDone
}

func (f *fileCaches) loadSource(dir string) {
	src, ok := f.source.(certsource.CachingSource)
	if !ok {
		return
	}
	start := time.Now()
	path, key := sourceCacheFile(dir, src)
	body, err := openCacheFile(path, key)
	n := 0
	if err == nil && body != nil {
		defer body.Close()
		n, err = src.UnmarshalCache(body, body.size)
	}
	if err != nil {
		f.log.WithField("error", err.Error()).Warn("CA store cache not used")
		return
	}
	f.log.WithFields(logrus.Fields{"files": n, "duration": since(start)}).Debug("CA store cache loaded")
}

// changed reports whether the classifier's or the source's memory holds
// something the files do not (see memory).
func (f *fileCaches) changed() (classes, files bool) {
	src, _ := f.source.(certsource.CachingSource)
	return f.classes.Fresh() > 0, src != nil && src.CacheChanged()
}

// save writes the file caches that have something new, in the background:
// the classifier's when this process classified certificates, the source's
// when it read files, into dir ("": none). The channel is closed when it is done.
func (f *fileCaches) save(dir string) <-chan struct{} {
	done := make(chan struct{})
	if dir == "" {
		close(done)
		return done
	}
	classes, files := f.changed()
	if !classes && !files {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		start := time.Now()
		fields := logrus.Fields{}
		if classes {
			n, err := f.classes.SaveFile(dir)
			if err != nil {
				f.log.WithField("error", err.Error()).Warn("classification cache not saved")
			}
			fields["certificates"] = n
		}
		if files {
			src := f.source.(certsource.CachingSource)
			path, key := sourceCacheFile(dir, src)
			if err := writeCacheStream(dir, path, key, src.WriteCache); err != nil {
				f.log.WithField("error", err.Error()).Warn("CA store cache not saved")
			}
		}
		fields["duration"] = since(start)
		f.log.WithFields(fields).Debug("file caches saved")
	}()
	return done
}

// sourceCacheFile is where the source's cache is kept, and its key.
func sourceCacheFile(dir string, src certsource.CachingSource) (string, [32]byte) {
	key := sha256.Sum256([]byte("source " + src.CacheKey()))
	return filepath.Join(dir, "source-"+hex.EncodeToString(key[:8])), key
}

// millis is a duration as a log field.
func millis(d time.Duration) string { return d.Round(time.Millisecond).String() }

// since is the time since start as a log field.
func since(start time.Time) string { return millis(time.Since(start)) }
