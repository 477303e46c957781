package adtest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"
)

// acquireLock takes an exclusive flock on path, waiting at most wait, and returns the open file
// (closing it releases the lock; so does the death of this process) and the DC directory that
// the previous holder recorded and did not clear, if any.
func acquireLock(path string, wait time.Duration) (f *os.File, staleDir string, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, "", fmt.Errorf("open %s: %w", path, err)
	}
	deadline := time.Now().Add(wait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, "", fmt.Errorf("flock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			holder, _ := os.ReadFile(path)
			f.Close()
			return nil, "", fmt.Errorf("waited %s for %s, still held (%s)", wait, path,
				strings.TrimSpace(string(holder)))
		}
		time.Sleep(200 * time.Millisecond)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, "", fmt.Errorf("read %s: %w", path, err)
	}
	for _, field := range strings.Fields(string(b)) {
		if d, ok := strings.CutPrefix(field, "dir="); ok {
			staleDir = d
		}
	}
	return f, staleDir, nil
}

// recordLock writes which process holds the lock and which DC it uses (dir for a DC it started,
// url for one it was given), so that a waiter can say whom it waits for and the next holder can
// stop a DC whose owner died.
func recordLock(f *os.File, dir, url string) error {
	rec := fmt.Sprintf("pid=%d", os.Getpid())
	if dir != "" {
		rec += " dir=" + dir
	}
	if url != "" {
		rec += " url=" + url
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(rec+"\n"), 0)
	return err
}

// releaseLock clears the record (the DC is stopped) and releases the lock.
func releaseLock(f *os.File) {
	if f == nil {
		return
	}
	_ = f.Truncate(0)
	f.Close()
}
