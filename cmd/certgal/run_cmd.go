package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/lookup"
	"github.com/certgal/certgal/sync"
)

// cmdRun is the daemon: a pass at start-up and on schedule, SIGHUP reloads the
// configuration, SIGTERM/SIGINT stop it after the entry being written.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	path, err := parseFlags(flag.NewFlagSet("run", flag.ContinueOnError), args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "certgal run: %v\n", err)
		return exitUsage
	}
	cfg, ok := loadConfig(path, stderr)
	if !ok {
		return exitUsage
	}
	log := newLogger(cfg.Log, stderr)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	build := currentBuild()
	registerBuildInfo(reg, build)
	d := newDaemon(path, log, reg)

	// Configuration errors the loader cannot see (a CA file that does not parse,
	// an unsupported source kind) stop the daemon at start-up, not at the first pass.
	if _, err := newPipelineParts(cfg, log); err != nil {
		fmt.Fprintf(stderr, "certgal run: %v\n", err)
		return exitUsage
	}

	// Both listeners are opened before anything runs, so a taken port is an
	// error at start-up and not a log line later.
	lns, err := openListeners(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "certgal run: %v\n", err)
		return exitFailed
	}
	lookupSrv := lookup.NewServer(cfg.Lookup, reg, log)
	if lns.lookup != nil {
		// Without a listener nobody asks: the index is not built.
		dir := cacheDir(os.Getenv)
		d.OnPass = func(res *sync.Result) { publishLookup(lookupSrv, res, dir, log) }
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	wait := serveListeners(ctx, stop, d, lns, reg, lookupSrv)
	log.WithFields(map[string]any{"config": path, "schedule": cfg.Schedule, "metrics": cfg.Metrics.Listen, "lookup": cfg.Lookup.Listen, "version": build.Version, "revision": build.Revision}).Info("certgal started")
	d.loop(ctx, cfg)
	stop()
	code := exitOK
	for _, err := range wait() {
		fmt.Fprintf(stderr, "certgal run: %v\n", err)
		code = exitFailed
	}
	log.Info("certgal stopped")
	return code
}

// watchReload turns SIGHUP into a reload; an invalid file keeps the old configuration.
func watchReload(ctx context.Context, d *daemon) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		cfg, err := config.LoadFile(d.path)
		if err == nil {
			_, err = newPipelineParts(cfg, d.log)
		}
		if err != nil {
			d.reloaded(false)
			d.log.WithError(err).Error("reload refused: invalid configuration; keeping the running one")
			continue
		}
		d.reloaded(true)
		select {
		case d.reload <- cfg:
		default: // a reload is already waiting for the loop: replace it
			select {
			case <-d.reload:
			default:
			}
			d.reload <- cfg
		}
	}
}
