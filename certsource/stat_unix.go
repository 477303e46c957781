//go:build linux || openbsd || darwin || freebsd || netbsd || dragonfly

package certsource

import (
	"io/fs"
	"syscall"
)

// statFile stats path into a value: os.Stat puts an fs.FileInfo on the heap
// for each file, garbage in proportion to the store (docs/BENCHMARKS.md, "Figures moved out of code comments (certsource)"). Besides size and
// mtime it has what tells that a file was replaced: its inode and its change
// time, which nothing but the kernel sets (`cp -p` and rsync restore an
// mtime, not a ctime).
func statFile(path string) (fileStat, error) {
	st, err := stat(path)
	if err != nil {
		return fileStat{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	return st, nil
}

// stat is statFile whose error does not name the path: path is not kept, so
// that it may be a buffer of the caller's that is used again (locateName).
func stat(path string) (fileStat, error) {
	var s syscall.Stat_t
	for {
		err := syscall.Stat(path, &s)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fileStat{}, err
		}
		break
	}
	mtime, ctime := statTimes(&s)
	return fileStat{size: s.Size, mtime: mtime, ino: uint64(s.Ino), ctime: ctime,
		regular: s.Mode&syscall.S_IFMT == syscall.S_IFREG}, nil
}
