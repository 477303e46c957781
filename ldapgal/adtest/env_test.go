package adtest

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFromEnvRequiresTheConnectionVariables(t *testing.T) {
	vars := map[string]string{"AD_URL": "ldaps://127.0.0.1:636"}
	_, err := fromEnv(func(k string) string { return vars[k] })
	if err == nil || !strings.Contains(err.Error(), "is not set") {
		t.Errorf("got %v, want a missing-variable error", err)
	}
}

func TestLockIsExclusiveAndRecordsTheDC(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	first, stale, err := acquireLock(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if stale != "" {
		t.Errorf("fresh lock names a stale DC %q", stale)
	}
	if err := recordLock(first, "/tmp/certgal-samba-x", ""); err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file, so a second open in this process must wait too.
	if _, _, err := acquireLock(path, 300*time.Millisecond); err == nil ||
		!strings.Contains(err.Error(), "dir=/tmp/certgal-samba-x") {
		t.Errorf("second acquire while held: %v, want a timeout naming the holder", err)
	}
	first.Close() // died without Stop: the record stays
	second, stale, err := acquireLock(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if stale != "/tmp/certgal-samba-x" {
		t.Errorf("stale DC %q, want /tmp/certgal-samba-x", stale)
	}
	releaseLock(second) // stopped cleanly: the record is cleared
	third, stale, err := acquireLock(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	if stale != "" {
		t.Errorf("after a clean release the lock still names %q", stale)
	}
}
