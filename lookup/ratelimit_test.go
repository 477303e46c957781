package lookup

import (
	"net/netip"
	"testing"
	"time"
)

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.7:4711", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:4711", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::"},
		{"[fe80::1%eth0]:80", "fe80::"},
		{"@", "invalid IP"},
	} {
		if got := clientKey(tc.remote).String(); got != tc.want {
			t.Errorf("clientKey(%q) = %s, want %s", tc.remote, got, tc.want)
		}
	}
}

func TestClientsBucket(t *testing.T) {
	cs := newClients(2, 4, 100)
	a := netip.MustParseAddr("192.0.2.1")
	now := time.Unix(1000, 0)
	for i := range 4 {
		if ok, _ := cs.allow(a, now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := cs.allow(a, now)
	if ok || wait != 500*time.Millisecond {
		t.Errorf("fifth: %v, wait %v, want refused for 0.5s", ok, wait)
	}
	if ok, _ := cs.allow(netip.MustParseAddr("192.0.2.2"), now); !ok {
		t.Error("another client shares the bucket")
	}
	if ok, _ := cs.allow(a, now.Add(500*time.Millisecond)); !ok {
		t.Error("no token after the wait")
	}
}

func TestClientsEvictIdleFirstThenOldest(t *testing.T) {
	cs := newClients(10, 20, 8) // full again after 2s idle
	now := time.Unix(1000, 0)
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
	for i := range 8 {
		cs.allow(addr(i), now.Add(time.Duration(i)*time.Second))
	}
	// At 8.5s clients 0..6 have been idle 2s or more: they go, 7 stays.
	cs.allow(addr(100), now.Add(8500*time.Millisecond))
	if cs.size() != 2 || cs.m[addr(7)] == nil {
		t.Fatalf("after an idle sweep: %d clients", cs.size())
	}
	// Nobody idle: the least recently seen quarter goes.
	cs = newClients(10, 20, 8)
	for i := range 8 {
		cs.allow(addr(i), now.Add(time.Duration(i)*time.Millisecond))
	}
	cs.allow(addr(100), now.Add(10*time.Millisecond))
	if cs.size() > 8 || cs.m[addr(0)] != nil || cs.m[addr(7)] == nil || cs.m[addr(100)] == nil {
		t.Errorf("after a flood eviction: %d clients", cs.size())
	}
}

// Configuration validation refuses a rate of 0; should one get here, it limits nothing rather
// than refusing everyone.
func TestClientsZeroRateMeansUnlimited(t *testing.T) {
	cs := newClients(0, 1, 10)
	a := netip.MustParseAddr("192.0.2.1")
	for i := range 100 {
		if ok, _ := cs.allow(a, time.Unix(1000, 0)); !ok {
			t.Fatalf("request %d refused", i+1)
		}
	}
}

func TestClientBehindTrustedProxies(t *testing.T) {
	ps := proxies{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::1/128")}
	for _, tc := range []struct {
		remote    string
		forwarded []string
		want      string
	}{
		{"192.0.2.7:1", []string{"198.51.100.1"}, "192.0.2.7"},                   // not a proxy: its header counts for nothing
		{"10.1.2.3:1", nil, "10.1.2.3"},                                          // a proxy that says nothing
		{"10.1.2.3:1", []string{"198.51.100.1"}, "198.51.100.1"},                 // the client behind it
		{"10.1.2.3:1", []string{"203.0.113.9, 198.51.100.1"}, "198.51.100.1"},    // what the client wrote first is its own claim
		{"10.1.2.3:1", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},       // two proxies
		{"10.1.2.3:1", []string{"198.51.100.1", "10.9.9.9"}, "198.51.100.1"},     // the same as two header lines
		{"10.1.2.3:1", []string{"198.51.100.1, garbage"}, "10.1.2.3"},            // an unreadable hop: stop at the proxy
		{"[2001:db8::1]:1", []string{"2001:db8:aa:bb:1::1"}, "2001:db8:aa:bb::"}, // IPv6 client: its /64
		{"[::ffff:10.0.0.1]:1", []string{"::ffff:198.51.100.1"}, "198.51.100.1"}, // mapped forms
	} {
		if got := ps.clientOf(tc.remote, tc.forwarded).String(); got != tc.want {
			t.Errorf("clientOf(%q, %q) = %s, want %s", tc.remote, tc.forwarded, got, tc.want)
		}
	}
	if got := proxies(nil).clientOf("10.1.2.3:1", []string{"198.51.100.1"}).String(); got != "10.1.2.3" {
		t.Errorf("with no trusted proxies: %s", got)
	}
}
