//go:build !(linux || openbsd || darwin || freebsd || netbsd || dragonfly)

package certsource

import (
	"os"
	"strings"
)

// statFile is os.Stat here; without an inode and change time, size and mtime
// alone tell a changed file.
func statFile(path string) (fileStat, error) {
	st, err := os.Stat(path)
	if err != nil {
		return fileStat{}, err
	}
	return fileStat{size: st.Size(), mtime: st.ModTime().UnixNano(), regular: st.Mode().IsRegular()}, nil
}

// stat is statFile of a path that is not kept: path may be a buffer of the
// caller's that is used again (locateName).
func stat(path string) (fileStat, error) {
	return statFile(strings.Clone(path))
}
