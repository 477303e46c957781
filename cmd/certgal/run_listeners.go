package main

import (
	"context"
	"fmt"
	"net"
	stdsync "sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/lookup"
)

// listeners are the daemon's listeners; nil where the configuration has none.
type listeners struct {
	metrics, lookup net.Listener
}

// openListeners opens the metrics and the lookup listener the configuration asks for. When
// the second cannot be opened the first is closed again.
func openListeners(cfg *config.Config) (listeners, error) {
	var lns listeners
	var err error
	if cfg.Metrics.Listen != "" {
		if lns.metrics, err = net.Listen("tcp", cfg.Metrics.Listen); err != nil {
			return listeners{}, fmt.Errorf("metrics.listen: %w", err)
		}
	}
	if cfg.Lookup.Listen != "" {
		if lns.lookup, err = net.Listen("tcp", cfg.Lookup.Listen); err != nil {
			if lns.metrics != nil {
				lns.metrics.Close()
			}
			return listeners{}, fmt.Errorf("lookup.listen: %w", err)
		}
	}
	return lns, nil
}

// serveListeners serves the listeners that are open and turns SIGHUP into reloads until ctx
// is done. A listener that fails calls stop, which ends the daemon's loop. The function it
// returns waits for all of them and returns the listeners' errors.
func serveListeners(ctx context.Context, stop context.CancelFunc, d *daemon, lns listeners, reg *prometheus.Registry, lookupSrv *lookup.Server) (wait func() []error) {
	var wg stdsync.WaitGroup
	errs := make(chan error, 2)
	if lns.metrics != nil {
		wg.Go(func() {
			if err := serve(ctx, newHTTPServer(opsHandler(d, reg)), lns.metrics, d.log); err != nil {
				errs <- fmt.Errorf("metrics listener: %w", err)
				stop()
			}
		})
	}
	if lns.lookup != nil {
		wg.Go(func() {
			if err := lookupSrv.Serve(ctx, lns.lookup); err != nil {
				errs <- err
				stop()
			}
		})
	}
	wg.Go(func() { watchReload(ctx, d) })
	return func() []error {
		wg.Wait()
		close(errs)
		var out []error
		for err := range errs {
			out = append(out, err)
		}
		return out
	}
}
