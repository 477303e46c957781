package lookup

import (
	"math"
	"net/netip"
	"slices"
	"strings"
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
	return bucketOf(ap.Addr())
}

// bucketOf is the key of an address: itself, or for IPv6 its /64.
func bucketOf(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		a = p.Addr()
	}
	return a
}

// proxies are the reverse proxies in front of the service (lookup.trusted_proxies).
type proxies []netip.Prefix

// clientOf is the key of the client behind a request. From a trusted proxy it is the
// last address of X-Forwarded-For that is not a trusted proxy too (the addresses before
// it are the client's to write, so they count for nothing); from anyone else, or when
// the header has no usable address, the connection's own.
func (ps proxies) clientOf(remoteAddr string, forwarded []string) netip.Addr {
	key := clientKey(remoteAddr)
	if len(ps) == 0 {
		return key
	}
	// Trust is of the proxy's own address, not of the bucket it would be counted in.
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil || !ps.trusted(ap.Addr().Unmap().WithZone("")) {
		return key
	}
	for i := len(forwarded) - 1; i >= 0; i-- {
		hops := strings.Split(forwarded[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return key // a hop we cannot read: nothing before it can be trusted
			}
			if !ps.trusted(a.Unmap()) {
				return bucketOf(a)
			}
		}
	}
	return key
}

func (ps proxies) trusted(a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
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
