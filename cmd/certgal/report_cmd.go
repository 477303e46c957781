package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/certgal/certgal/sync"
)

// cmdReport is `certgal report`: a read-only pass that prints, per user, the addresses, the
// current key and a status, as the next pass would leave them.
func cmdReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	format := fs.String("o", "text", "output: text, json or csv")
	p, code := onePassPipeline(ctx, "report", fs, args, []string{"text", "json", "csv"}, format, stderr)
	if p == nil {
		return code
	}
	defer p.Close()
	p.syncer.OnePass, p.syncer.Report = true, true
	res, err := p.syncer.Pass(ctx, true)
	if err != nil {
		fmt.Fprintf(stderr, "certgal report: %v\n", err)
		return exitFailed
	}
	if err := sync.WriteReport(stdout, *format, res.Plan.Report); err != nil {
		fmt.Fprintf(stderr, "certgal report: %v\n", err)
		return exitFailed
	}
	if res.Plan.Blocked != "" {
		// The report shows what the plan wants; a pass would hold most of it back.
		fmt.Fprintf(stderr, "certgal report: a pass would be blocked, so the statuses are not what the next pass leaves: %s\n", res.Plan.Blocked)
		return exitFailed
	}
	return exitOK
}
