//go:build unix

package certsource

import (
	"io/fs"
	"syscall"
)

// fileIdentity is what besides size and mtime tells that a file was replaced:
// its inode and its change time, which nothing but the kernel sets (`cp -p`
// and rsync restore an mtime, not a ctime).
func fileIdentity(st fs.FileInfo) (ino uint64, ctime int64) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return uint64(s.Ino), s.Ctim.Nano()
	}
	return 0, 0
}
