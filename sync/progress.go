package sync

import "sync/atomic"

// Progress is read by another goroutine (a terminal ticker, a status page)
// while a pass runs.
type Progress struct {
	UsersRead    atomic.Int64
	EntriesTotal atomic.Int64
	EntriesDone  atomic.Int64
}
