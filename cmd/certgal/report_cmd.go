package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certgal/certgal/sync"
)

// cmdReport is `certgal report`: a read-only pass that prints, per user, the addresses, the
// current key and a status, as the next pass would leave them.
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	format := fs.String("o", "text", "output: text, json or csv")
	path, err := parseFlags(fs, args, stderr)
	if err == nil && *format != "text" && *format != "json" && *format != "csv" {
		err = fmt.Errorf("-o must be text, json or csv, not %q", *format)
	}
	if err != nil {
		fmt.Fprintf(stderr, "certgal report: %v\n", err)
		return exitUsage
	}
	cfg, ok := loadConfig(path, stderr)
	if !ok {
		return exitUsage
	}
	log := newLogger(cfg.Log, stderr)
	p, err := newPipeline(ctx, cfg, log, sync.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		fmt.Fprintf(stderr, "certgal report: %v\n", err)
		if errors.As(err, new(configError)) {
			return exitUsage
		}
		return exitFailed
	}
	defer p.Close()
	p.syncer.Once, p.syncer.Report = true, true
	res, err := p.syncer.Pass(ctx, true)
	if err != nil {
		fmt.Fprintf(stderr, "certgal report: %v\n", err)
		return exitFailed
	}
	if err := sync.WriteReport(stdout, *format, res.Plan.Report); err != nil {
		fmt.Fprintf(stderr, "certgal report: %v\n", err)
		return exitFailed
	}
	return exitOK
}
