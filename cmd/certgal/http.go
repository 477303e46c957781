package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sirupsen/logrus"
)

// opsHandler serves /metrics, /healthz, /readyz and POST /-/sync.
func opsHandler(d *daemon, gatherer prometheus.Gatherer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	// Liveness: the process answers. Nothing a pass meets (a directory down, an
	// entry refused) would be mended by a restart.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.ready() {
			http.Error(w, "no pass has produced the lookup's index yet", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("POST /-/sync", func(w http.ResponseWriter, _ *http.Request) {
		switch res, wait := d.requestHTTP(time.Now()); res {
		case triggerDisabled:
			http.Error(w, "POST /-/sync is disabled (metrics.enable_trigger: false)", http.StatusForbidden)
		case triggerTooSoon:
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			http.Error(w, fmt.Sprintf("the last pass started less than metrics.trigger_min_interval (%s) ago", time.Duration(d.minGap.Load())), http.StatusTooManyRequests)
		case triggerBusy:
			http.Error(w, "a pass is running", http.StatusConflict)
		default:
			w.WriteHeader(http.StatusAccepted)
			w.Write([]byte("pass started\n"))
		}
	})
	return mux
}

// serve runs srv on ln until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, srv *http.Server, ln net.Listener, log logrus.FieldLogger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		log.WithError(err).Warn("listener shutdown")
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}
