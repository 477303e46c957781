package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSyncFileCachesCarryOverBetweenRuns: a second `certgal sync` takes what
// the first classified and read from the cache directory, parses and reads
// nothing again, and plans the same; a change in the CA store and a damaged
// cache file are still handled as without any cache.
func TestSyncFileCachesCarryOverBetweenRuns(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CERTGAL_CACHE_DIR", dir)
	w := newWorld(t)
	w.head = "log:\n  level: debug\n"
	alice := w.user("alice", "alice@corp.example")
	bob := w.user("bob", "bob@corp.example")
	a := w.ca.Issue(t, "alice@corp.example")
	b := w.ca.Issue(t, "bob@corp.example")

	run := func() (mods int, stderr string) {
		t.Helper()
		before := w.slapd.ModifyCount(t)
		code, out, errOut := w.sync()
		if code != 0 {
			t.Fatalf("certgal sync exited %d\n%s\n%s", code, out, errOut)
		}
		return w.slapd.ModifyCount(t) - before, errOut
	}
	if mods, log := run(); mods != 2 || !strings.Contains(log, `msg="file caches saved"`) {
		t.Fatalf("first run: %d modifies (want 2); caches saved: %v", mods, strings.Contains(log, "file caches saved"))
	}
	w.assertCerts(alice, a.DER)
	w.assertCerts(bob, b.DER)
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != 2 {
		t.Fatalf("cache directory holds %v, want the classification and the CA store's files", files)
	}

	mods, log := run()
	for _, want := range []string{`msg="classification cache loaded" certificates=2`, `msg="CA store cache loaded"`, "files=2"} {
		if !strings.Contains(log, want) {
			t.Errorf("second run: no %q in its log:\n%s", want, log)
		}
	}
	if mods != 0 || strings.Contains(log, "file caches saved") {
		t.Errorf("second run: %d modifies, saved again %v: it should have found everything in the caches",
			mods, strings.Contains(log, "file caches saved"))
	}

	// The CA revokes Bob's certificate: index.txt changes, the files do not.
	w.ca.Revoke(t, b.Serial, "keyCompromise")
	if mods, _ := run(); mods != 1 {
		t.Errorf("revocation with the caches: %d modifies, want 1", mods)
	}
	w.assertCerts(bob)

	// A damaged classification file: said, ignored, replaced.
	class, _ := filepath.Glob(filepath.Join(dir, "classified-*"))
	if len(class) != 1 {
		t.Fatalf("classification files %v", class)
	}
	if err := os.WriteFile(class[0], []byte("certgal cache\ngarbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	mods, log = run()
	if mods != 0 || !strings.Contains(log, "classification cache not used") || !strings.Contains(log, `msg="file caches saved"`) {
		t.Errorf("damaged cache: %d modifies (want 0), warned %v, saved %v", mods,
			strings.Contains(log, "classification cache not used"), strings.Contains(log, "file caches saved"))
	}
	w.assertCerts(alice, a.DER)
}
