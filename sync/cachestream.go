package sync

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
)

// writeCacheStream writes the cache file at path (in dir) for key, its body
// written by body as it is made, never whole in memory: a cache is saved
// while a pass holds its data, and a body held whole would add its size to
// that pass's peak. The header holds the body's checksum, so it is written
// last, over the room kept for it at the start.
func writeCacheStream(dir, path string, key [32]byte, body func(io.Writer) error) error {
	err := writeAtomic(dir, path, func(f *os.File) error {
		if _, err := f.Write(make([]byte, cacheHeaderLen)); err != nil {
			return err
		}
		sum := sha256.New()
		w := bufio.NewWriterSize(io.MultiWriter(f, sum), cacheWriteBuffer)
		if err := body(w); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		head := make([]byte, 0, cacheHeaderLen)
		head = append(append(append(head, cacheMagic...), key[:]...), sum.Sum(nil)...)
		_, err := f.WriteAt(head, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// cacheWriteBuffer is how much of a body is written at a time.
const cacheWriteBuffer = 64 << 10
