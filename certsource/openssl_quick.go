package certsource

import (
	"path/filepath"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

// A daemon's pass reads an unchanged CA store most of the time. Stat'ing each
// certificate file to learn that takes CPU time that the directory read, at
// the same moment, needs (docs/BENCHMARKS.md, "Figures moved out of code comments (certsource)"). An `openssl ca` store only ever adds
// files (newcerts/SERIAL.pem) and lines to index.txt, so when index.txt is the
// same and no directory the certificates live in was changed (a file added,
// removed or renamed changes its directory's mtime and ctime), the files are
// those of the last read. A file rewritten in place changes neither; it is
// noticed by the full read at least every fullCheckEvery. (Directory times
// tick with the kernel's coarse clock, a few milliseconds: a file added in
// the same tick as the last change before a full read goes unseen until the
// next full read, unless index.txt changed too, as it does when a CA issues.)
const fullCheckEvery = time.Hour

// quickRead is what a read that found nothing changed returns again.
type quickRead struct {
	index    [32]byte  // index.txt's SHA-256
	bad      []badLine // its lines that did not parse
	parsed   bool      // read by Read (with parsed certificates), not ReadUnparsed
	stamps   dirStamps
	lines    *readLines
	revs     []Revocation // of index.txt's R lines (indexRevocations)
	problems []problem    // reported again on each read, as a full read would
	at       time.Time    // when every file was last stat'ed
}

// unchangedSince reports whether the store is as last found it: read in the
// same mode less than fullCheckEvery ago, no directory where certificates
// live changed, and index.txt the same bytes. index.txt is hashed as it
// streams: held whole only to be parsed (docs/BENCHMARKS.md, "Results, fifth
// round"). The directories' stamps come first: a few stats, and when they
// differ index.txt is read once, not hashed and then read.
func (o *OpenSSL) unchangedSince(last *quickRead, mode readMode, index string) bool {
	return last != nil && last.parsed == mode.parsed && o.now().Sub(last.at) < o.fullCheckEvery &&
		last.stamps.unchanged() && hashFile(index) == last.index
}

// replay puts last's certificates and revocations in snap and reports its
// problems again: nothing was added, removed or renamed where the
// certificates are, and index.txt is the same, so the files found last time
// are the ones, and index.txt need not even be parsed again.
func (o *OpenSSL) replay(snap *Snapshot, last *quickRead, index string) {
	o.skipBadLines(snap, index, last.bad)
	snap.Certificates = o.certificates(last.lines, readMode{parsed: last.parsed})
	snap.Revocations = slices.Clone(last.revs)
	for _, p := range last.problems {
		o.skip(snap, p.reason, p.fields)
	}
}

type problem struct {
	reason string
	fields logrus.Fields
}

// dirStamps are the modification and change times of directories, by path;
// zero for one that does not exist.
type dirStamps map[string][2]int64

// stampDirs stamps the directories where certificates can be (the CA
// directory and each of the layouts locate and issuedBySerial look in: an
// easy-rsa revoke moves a certificate from certs_by_serial/ and issued/ to
// revoked/certs_by_serial/), and the others of s.
func (o *OpenSSL) stampDirs(s dirStamps) dirStamps {
	out := dirStamps{}
	for _, d := range append(append([]string{""}, serialLayouts[:]...), "issued", revokedLayout) {
		out[filepath.Join(o.dir, d)] = [2]int64{}
	}
	for d := range s {
		out[d] = [2]int64{}
	}
	for d := range out {
		out[d] = stampOf(d)
	}
	return out
}

// add stamps the directories of paths that s has not stamped yet: those of
// index lines naming a file in a directory of their own.
func (s dirStamps) add(paths ...string) {
	for _, p := range paths {
		if p == "" {
			continue
		}
		if d := filepath.Dir(p); d != "" {
			if _, ok := s[d]; !ok {
				s[d] = stampOf(d)
			}
		}
	}
}

// unchanged reports whether every directory has its stamp still.
func (s dirStamps) unchanged() bool {
	for d, st := range s {
		if stampOf(d) != st {
			return false
		}
	}
	return true
}

func stampOf(dir string) [2]int64 {
	st, err := statFile(dir)
	if err != nil {
		return [2]int64{}
	}
	return [2]int64{st.mtime, st.ctime}
}
