package lookup

import (
	"math"
	"net/netip"
	"slices"
	stdsync "sync"
	"time"

	"golang.org/x/time/rate"
)

// defaultMaxClients bounds the client table: at about 200 bytes a client, 64 MiB at most
// however many addresses a flood comes from.
const defaultMaxClients = 1 << 16

// clients is a token bucket per client address, in a table of bounded size. An IPv6 client
// is its /64, which one host usually has all of.
type clients struct {
	limit rate.Limit
	burst int
	// idle is how long a bucket takes to fill up again: a client idle that long is as good
	// as new and can be forgotten without giving it anything.
	idle time.Duration
	max  int

	mu stdsync.Mutex
	m  map[netip.Addr]*client
}

type client struct {
	lim  *rate.Limiter
	seen int64 // unix ns of the last request; under clients.mu
}

func newClients(perSecond float64, burst, max int) *clients {
	limit := rate.Limit(perSecond)
	if !(perSecond > 0) {
		limit = rate.Inf
	}
	idle := time.Duration(float64(burst) / float64(limit) * float64(time.Second))
	if idle <= 0 || idle > time.Hour {
		idle = time.Hour
	}
	return &clients{limit: limit, burst: burst, idle: idle, max: max, m: map[netip.Addr]*client{}}
}

// clientKey is what a client is counted by.
func clientKey(remoteAddr string) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{} // not TCP (a test's pipe): one bucket for all of them
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		a = p.Addr()
	}
	return a
}

// allow takes a token for the client; when there is none it says how long until there is.
func (cs *clients) allow(key netip.Addr, now time.Time) (bool, time.Duration) {
	cs.mu.Lock()
	c := cs.m[key]
	if c == nil {
		if len(cs.m) >= cs.max {
			cs.evict(now)
		}
		c = &client{lim: rate.NewLimiter(cs.limit, cs.burst)}
		cs.m[key] = c
	}
	c.seen = now.UnixNano()
	cs.mu.Unlock()

	if c.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - c.lim.TokensAt(now)
	wait := time.Duration(math.Ceil(missing / float64(cs.limit) * float64(time.Second)))
	return false, max(wait, 0)
}

// evict makes room: first every client idle long enough to have a full bucket again, then,
// if a flood from many addresses left none such, the least recently seen quarter. Evicting
// a quarter at once keeps the cost per new client constant on average.
func (cs *clients) evict(now time.Time) {
	cutoff := now.Add(-cs.idle).UnixNano()
	for k, c := range cs.m {
		if c.seen < cutoff {
			delete(cs.m, k)
		}
	}
	if len(cs.m) < cs.max {
		return
	}
	seen := make([]int64, 0, len(cs.m))
	for _, c := range cs.m {
		seen = append(seen, c.seen)
	}
	slices.Sort(seen)
	cutoff = seen[len(seen)/4]
	for k, c := range cs.m {
		if c.seen <= cutoff {
			delete(cs.m, k)
		}
	}
}

// size is the number of clients in the table.
func (cs *clients) size() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.m)
}
