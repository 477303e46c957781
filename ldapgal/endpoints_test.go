package ldapgal

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/certgal/certgal/config"
)

func TestSRVURLs(t *testing.T) {
	// In the order LookupSRV returns them: by priority, then weight.
	srvs := []*net.SRV{
		{Target: "dc2.corp.example.com.", Port: 389, Priority: 0, Weight: 100},
		{Target: "dc1.corp.example.com.", Port: 389, Priority: 0, Weight: 50},
		{Target: ".", Port: 389, Priority: 5},
		{Target: "dc2.corp.example.com.", Port: 389, Priority: 10},
		{Target: "dc3.corp.example.com", Port: 3890, Priority: 20},
	}
	for _, tt := range []struct {
		startTLS bool
		want     []string
	}{
		{false, []string{"ldaps://dc2.corp.example.com:636", "ldaps://dc1.corp.example.com:636", "ldaps://dc3.corp.example.com:636"}},
		{true, []string{"ldap://dc2.corp.example.com:389", "ldap://dc1.corp.example.com:389", "ldap://dc3.corp.example.com:3890"}},
	} {
		if got := srvURLs(srvs, tt.startTLS); !slices.Equal(got, tt.want) {
			t.Errorf("start_tls %v: %q, want %q", tt.startTLS, got, tt.want)
		}
	}
}

func TestDomainControllers(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  config.Directory
		want []string
	}{
		{"url is a list of one", config.Directory{URL: "ldaps://dc1"}, []string{"ldaps://dc1"}},
		{"urls in their order", config.Directory{URLs: []string{"ldaps://dc2", "ldaps://dc1"}}, []string{"ldaps://dc2", "ldaps://dc1"}},
	} {
		got, err := domainControllers(context.Background(), tt.cfg, nil)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestFailoverErrors(t *testing.T) {
	_, certErr := x509.ParseCertificate([]byte("not DER"))
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{ldap.NewError(ldap.ErrorNetwork, errors.New("connection refused")), true},
		{fmt.Errorf("connect ldaps://dc1: %w", ldap.NewError(ldap.ErrorNetwork, errors.New("i/o timeout"))), true},
		{ldap.NewError(ldap.LDAPResultBusy, errors.New("busy")), true},
		{ldap.NewError(ldap.LDAPResultUnavailable, errors.New("shutting down")), true},
		{&net.OpError{Op: "dial", Err: os.ErrDeadlineExceeded}, true},
		{ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("data 52e")), false},
		{ldap.NewError(ldap.LDAPResultStrongAuthRequired, errors.New("")), false},
		{ldap.NewError(ldap.ErrorUnexpectedResponse, errors.New("garbage")), false},
		{fmt.Errorf("directory.ca_file: %w", certErr), false},
	} {
		if got := failover(tt.err); got != tt.want {
			t.Errorf("failover(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestTryDCsOrder checks the order DCs are tried in: from the current one on,
// round to the first, stopping at an error the next DC would give too.
func TestTryDCsOrder(t *testing.T) {
	down := ldap.NewError(ldap.ErrorNetwork, errors.New("connection refused"))
	for _, tt := range []struct {
		name    string
		cur     int
		results map[string]error // nil: connects
		tried   []string
		served  string
		cur2    int
		moves   int // failovers: moves on to a next DC
	}{
		{"first up", 0, map[string]error{}, []string{"a"}, "a", 0, 0},
		{"first down", 0, map[string]error{"a": down}, []string{"a", "b"}, "b", 1, 1},
		{"from the current one, round to the first", 1, map[string]error{"b": down, "c": down}, []string{"b", "c", "a"}, "a", 0, 2},
		{"all down", 0, map[string]error{"a": down, "b": down, "c": down}, []string{"a", "b", "c"}, "", 0, 2},
		{"a wrong password stops", 0, map[string]error{"a": ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("52e"))}, []string{"a"}, "", 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics(prometheus.NewRegistry())
			c := &Client{log: quiet(), metrics: m, dcs: []string{"a", "b", "c"}, cur: tt.cur}
			var tried []string
			served, pos, err := c.tryDCs(context.Background(), func(dc string) error {
				tried = append(tried, dc)
				return tt.results[dc]
			})
			if !slices.Equal(tried, tt.tried) || served != tt.served || (err == nil) != (served != "") {
				t.Errorf("tried %q, served %q (%v); want %q, %q", tried, served, err, tt.tried, tt.served)
			}
			if served != "" && (c.cur != tt.cur2 || pos != tt.cur2) {
				t.Errorf("current DC %d, returned position %d, want %d", c.cur, pos, tt.cur2)
			}
			if got := testutil.ToFloat64(m.failovers); int(got) != tt.moves {
				t.Errorf("%v failovers, want %d", got, tt.moves)
			}
		})
	}
}

// TestRestartAsksDNSFromTheSecondPassOn: the first pass uses the DCs Open
// found in DNS; each later pass asks again, so that a DC that came back
// serves again, and keeps the DCs found before when DNS fails.
func TestRestartAsksDNSFromTheSecondPassOn(t *testing.T) {
	var lookups atomic.Int32
	r := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		lookups.Add(1)
		return nil, errors.New("no DNS server in this test")
	}}
	cfg := config.Directory{Discover: "corp.example"}
	c := &Client{cfg: cfg, log: quiet(), dialer: &dialer{cfg: cfg, resolver: r},
		dcs: []string{"ldaps://a:636", "ldaps://b:636"}, cur: 1, dcsFresh: true}

	c.restart(context.Background())
	if n := lookups.Load(); n != 0 || c.cur != 0 {
		t.Errorf("first pass: %d DNS queries, current DC %d; want none and 0", n, c.cur)
	}
	c.cur = 1
	c.restart(context.Background())
	if n := lookups.Load(); n == 0 || c.cur != 0 || len(c.dcs) != 2 {
		t.Errorf("second pass: %d DNS queries, current DC %d, DCs %q; want a query, 0 and the DCs found before", n, c.cur, c.dcs)
	}
}
