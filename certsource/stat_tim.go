//go:build linux || openbsd || dragonfly

package certsource

import "syscall"

// statTimes is s's mtime and ctime in Unix ns (Stat_t names them so here).
func statTimes(s *syscall.Stat_t) (mtime, ctime int64) { return s.Mtim.Nano(), s.Ctim.Nano() }
