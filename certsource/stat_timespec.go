//go:build darwin || freebsd || netbsd

package certsource

import "syscall"

// statTimes is s's mtime and ctime in Unix ns (Stat_t names them so here).
func statTimes(s *syscall.Stat_t) (mtime, ctime int64) {
	return s.Mtimespec.Nano(), s.Ctimespec.Nano()
}
