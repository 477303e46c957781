package certsource

// fileStat is what the sources look at in a file's metadata (statFile).
type fileStat struct {
	size    int64
	mtime   int64  // Unix ns
	ino     uint64 // 0 where statFile cannot tell
	ctime   int64  // Unix ns; 0 likewise
	regular bool
}
