package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sirupsen/logrus/hooks/test"
)

func TestHealthcheck(t *testing.T) {
	log, _ := test.NewNullLogger()
	reg := prometheus.NewRegistry()
	d := newDaemon("unused.yaml", log, reg)
	// No pass has built the lookup's index: /readyz answers 503.
	srv := httptest.NewServer(opsHandler(d, reg))
	defer srv.Close()
	closed := httptest.NewServer(nil)
	closed.Close()

	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"healthy", []string{"-url", srv.URL + "/healthz"}, exitOK, ""},
		{"not 200", []string{"-url", srv.URL + "/readyz"}, exitFailed, "503 Service Unavailable"},
		{"nobody listens", []string{"-url", closed.URL + "/healthz"}, exitFailed, "connection refused"},
		{"stray argument", []string{"now"}, exitUsage, "unexpected arguments"},
	}
	for _, tc := range tests {
		var stderr bytes.Buffer
		code := run(context.Background(), append([]string{"healthcheck"}, tc.args...), &bytes.Buffer{}, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%s: exit %d, want %d with %q\n%s", tc.name, code, tc.code, tc.want, stderr.String())
		}
	}
}
