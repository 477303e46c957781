package sync

import (
	"runtime"

	"github.com/certgal/certgal/certsource"
)

// memory is the pass's garbage-collection policy. The collector sizes the
// heap by what was live at its last cycle; when much of the heap has just
// become garbage (the source's memory of its files, the classifier's, a whole
// pass), a cycle right then keeps the next peak down. docs/BENCHMARKS.md
// ("third round", "fourth round") has the measurements behind each step.
type memory struct {
	// onePass: this process runs one pass (`certgal sync`, `certgal report`),
	// so what only a later pass would use is dropped once the pass is done
	// with it, unless the file caches are to get something new from it.
	onePass  bool
	cacheDir string
	caches   *fileCaches
}

// storeRead is called once the CA store is read and classified.
func (m memory) storeRead() {
	if !m.onePass {
		return
	}
	if src, ok := m.caches.source.(certsource.CachingSource); ok {
		if _, files := m.caches.changed(); m.cacheDir == "" || !files {
			src.DropCache()
			collect()
		}
	}
}

// storeParsed is called once the CA store is read and classified when its
// read parsed files it had not read before (newFiles). A daemon's directory
// read waited for it: the parsing's garbage goes before the users arrive, or
// the heap grows to twice what was live while both were (docs/BENCHMARKS.md,
// "Goal 1: the daemon's memory, session 10"). A one-pass process has storeRead.
func (m memory) storeParsed() {
	if !m.onePass {
		collect()
	}
}

// directoryRead is called once the directory is read and classified: each
// Cert the pass holds stays, the classifier's index of them goes.
func (m memory) directoryRead() {
	if !m.onePass {
		return
	}
	if classes, _ := m.caches.changed(); m.cacheDir == "" || !classes {
		m.caches.classes.forget()
		collect()
	}
}

// writing is called before a pass writes its entries, once the calculator
// is trimmed to what a write needs (calculator.keepFor): the users read and
// the planning's lists are garbage, and the writes allocate more than any
// other phase, so the heap's next goal had better not count what was.
func (m memory) writing(entries int) {
	if entries > 0 {
		collect()
	}
}

// written is called once a daemon's pass has written its entries: what the
// writes allocated is garbage, and the lookup's rebuild after the pass,
// which allocates the most while the pass's plan is still live, had better
// start from a heap goal of what is live (docs/BENCHMARKS.md, "The writes in
// the renewal pass"). A one-pass process is done by then.
func (m memory) written(entries int) {
	if entries > 0 && !m.onePass {
		collect()
	}
}

func collect() { runtime.GC() }
