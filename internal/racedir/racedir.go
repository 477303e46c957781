// Package racedir is a test double for the race certgal must survive: another
// writer changes an entry between a pass's read and its write. It wraps a real
// directory, so everything but the timing is the server's own behaviour.
package racedir

import (
	"context"
	stdsync "sync"

	"github.com/certgal/certgal/sync"
)

// Directory is a real sync.Directory whose first Modify of an entry is
// preceded by Race[DN], run once.
type Directory struct {
	sync.Directory
	mu   stdsync.Mutex // a pass modifies entries from several workers
	race map[string]func()
}

// New wraps dir; race maps a DN to the other writer's change (nil: none yet).
func New(dir sync.Directory, race map[string]func()) *Directory {
	if race == nil {
		race = map[string]func(){}
	}
	return &Directory{Directory: dir, race: race}
}

// Before makes f run right before the first modify of dn.
func (d *Directory) Before(dn string, f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.race[dn] = f
}

// Pending is how many races have not run: no modify of their entry came.
func (d *Directory) Pending() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.race)
}

// Modify runs the entry's race, if any, then modifies.
func (d *Directory) Modify(ctx context.Context, m sync.Modification) error {
	d.mu.Lock()
	f := d.race[m.DN]
	delete(d.race, m.DN)
	d.mu.Unlock()
	if f != nil {
		f()
	}
	return d.Directory.Modify(ctx, m)
}
