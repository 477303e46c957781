package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/certgal/certgal/sync"
)

func cmdSync(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	dryRun := fs.Bool("dry-run", false, "print the plan, write nothing")
	format := fs.String("o", "text", "plan output: text or json")
	p, code := onePassPipeline(ctx, "sync", fs, args, []string{"text", "json"}, format, stderr)
	if p == nil {
		return code
	}
	defer p.Close()

	if isTerminal(stderr) {
		p.syncer.Progress = &sync.Progress{}
		done := make(chan struct{})
		defer close(done)
		go showProgress(stderr, p.syncer.Progress, done)
	}
	p.syncer.OnePass = true
	res, err := p.syncer.Pass(ctx, *dryRun)
	if res.Plan != nil {
		var werr error
		if *format == "json" {
			werr = res.Plan.WriteJSON(stdout)
		} else {
			werr = res.Plan.WriteText(stdout)
		}
		if werr != nil {
			fmt.Fprintf(stderr, "certgal sync: write plan: %v\n", werr)
			return exitFailed
		}
	}
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "certgal sync: %v\n", err)
		return exitFailed
	case res.Plan.Blocked != "":
		fmt.Fprintf(stderr, "certgal sync: blocked: %s\n", res.Plan.Blocked)
		return exitFailed
	case res.Err != nil:
		fmt.Fprintf(stderr, "certgal sync: some entries were not written:\n%v\n", res.Err)
		return exitFailed
	}
	return exitOK
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// showProgress prints how far a long pass is, every few seconds, until done.
func showProgress(w io.Writer, p *sync.Progress, done <-chan struct{}) {
	t := time.NewTicker(3 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			fmt.Fprintf(w, "certgal: %d users read, %d/%d entries written\n",
				p.UsersRead.Load(), p.EntriesDone.Load(), p.EntriesTotal.Load())
		}
	}
}

// onePassPipeline is what `certgal sync` and `certgal report` do before their pass: parse
// the flags (format, the -o value, must be one of formats), load the configuration, and
// wire the pipeline. nil with the exit status when any of it fails, said on stderr.
func onePassPipeline(ctx context.Context, name string, fs *flag.FlagSet, args, formats []string, format *string, stderr io.Writer) (*pipeline, int) {
	path, err := parseFlags(fs, args, stderr)
	if err == nil && !slices.Contains(formats, *format) {
		err = fmt.Errorf("-o must be %s, not %q", strings.Join(formats, ", "), *format)
	}
	if err != nil {
		fmt.Fprintf(stderr, "certgal %s: %v\n", name, err)
		return nil, exitUsage
	}
	cfg, ok := loadConfig(path, stderr)
	if !ok {
		return nil, exitUsage
	}
	p, err := newPipeline(ctx, cfg, newLogger(cfg.Log, stderr), sync.NewMetrics(prometheus.NewRegistry()))
	if err != nil {
		fmt.Fprintf(stderr, "certgal %s: %v\n", name, err)
		if errors.As(err, new(configError)) {
			return nil, exitUsage
		}
		return nil, exitFailed
	}
	return p, exitOK
}
