package lookup

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	stdsync "sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/certgal/certgal/config"
)

// A flood on loopback, bounded in count and time: one client hammering gets 429s with
// Retry-After, and clients from many addresses (127.0.0.0/8 is all ours) do not grow the
// client table, or the heap, past its cap.
func TestFloodOnLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("flood: not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	log, _ := test.NewNullLogger()
	srv := NewServer(config.Lookup{RatePerSecond: 5, Burst: 10}, prometheus.NewRegistry(), log)
	const tableCap = 64
	srv.clients.max = tableCap
	ca := newTestCA(t, "Corp S/MIME CA")
	srv.Swap(NewIndex([]Entry{{Addresses: []string{"alice@corp.example"}, DER: [][]byte{ca.issue(t, "alice@corp.example", time.Now())}}}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	url := "http://" + ln.Addr().String() + "/certs/alice@corp.example"

	// One client, 4 connections, 400 requests.
	one := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second}
	defer one.CloseIdleConnections()
	start := time.Now()
	codes := flood(ctx, t, one, url, 400, 4)
	// The burst, plus what refilled while the flood ran.
	most := 10 + int(5*time.Since(start).Seconds()) + 1
	if codes[200] < 10 || codes[200] > most || codes[200]+codes[429] != 400 {
		t.Errorf("one client: %v, want from 10 to %d served, the rest 429", codes, most)
	}

	// Many clients, one connection each, from 127.0.1.1 on; measured after a first round so
	// that the heap has met every kind of object once.
	many := func(first, n int) {
		var wg stdsync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := range n {
			src := netip.AddrFrom4([4]byte{127, 0, byte(1 + (first+i)/250), byte(1 + (first+i)%250)})
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				c := clientFrom(src)
				defer c.CloseIdleConnections()
				for range 3 {
					code, err := fetch(ctx, c, url)
					if err != nil || (code != 200 && code != 429) {
						t.Errorf("from %s: %d %v", src, code, err)
						return
					}
				}
			}()
			if size := srv.clients.size(); size > tableCap {
				t.Fatalf("client table holds %d, cap %d", size, tableCap)
			}
		}
		wg.Wait()
	}
	many(0, 250)
	before := heapInUse()
	many(250, 1500)
	after := heapInUse()
	if size := srv.clients.size(); size > tableCap {
		t.Errorf("client table holds %d, cap %d", size, tableCap)
	}
	if grow := int64(after) - int64(before); grow > 4<<20 {
		t.Errorf("heap grew by %d bytes over 1500 new clients", grow)
	}
	t.Logf("one client: %v; heap in use %d → %d bytes; client table %d", codes, before, after, srv.clients.size())
	if ctx.Err() != nil {
		t.Fatal("the flood ran out of time")
	}
}

func flood(ctx context.Context, t *testing.T, c *http.Client, url string, n, conns int) map[int]int {
	t.Helper()
	var mu stdsync.Mutex
	codes := map[int]int{}
	work := make(chan struct{})
	var wg stdsync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				code, err := fetch(ctx, c, url)
				mu.Lock()
				if err != nil {
					codes[-1]++
				} else {
					codes[code]++
				}
				mu.Unlock()
			}
		}()
	}
	for range n {
		select {
		case work <- struct{}{}:
		case <-ctx.Done():
		}
	}
	close(work)
	wg.Wait()
	return codes
}

func fetch(ctx context.Context, c *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
		return 0, fmt.Errorf("429 without Retry-After")
	}
	return resp.StatusCode, nil
}

func clientFrom(src netip.Addr) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: src.AsSlice()}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 1}}
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}
