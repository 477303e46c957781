//go:build !unix

package certsource

import "io/fs"

// fileIdentity is unknown here: size and mtime alone tell a changed file.
func fileIdentity(fs.FileInfo) (ino uint64, ctime int64) { return 0, 0 }
