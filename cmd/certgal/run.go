package main

import (
	"context"
	"fmt"
	"io"
)

// Exit statuses of `certgal sync` (and of the other commands where they apply).
const (
	exitOK      = 0
	exitFailed  = 1 // the pass ran but entries failed, a safety limit stopped it, or a server failed
	exitUsage   = 2 // usage or configuration error
	usageString = `usage:
  certgal run          -config FILE
  certgal sync         -config FILE [-dry-run] [-o text|json]
  certgal check-config -config FILE
  certgal report       -config FILE [-o text|json|csv]
  certgal healthcheck  [-url http://127.0.0.1:9464/healthz] [-timeout 5s]
  certgal version
`
)

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageString)
		return exitUsage
	}
	switch args[0] {
	case "sync":
		return cmdSync(ctx, args[1:], stdout, stderr)
	case "report":
		return cmdReport(ctx, args[1:], stdout, stderr)
	case "check-config":
		return cmdCheckConfig(args[1:], stdout, stderr)
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "healthcheck":
		return cmdHealthcheck(ctx, args[1:], stderr)
	case "version", "-version", "--version":
		fmt.Fprint(stdout, currentBuild().String())
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageString)
		return exitOK
	}
	fmt.Fprintf(stderr, "certgal: unknown command %q\n%s", args[0], usageString)
	return exitUsage
}
