package main

import (
	"context"
	"fmt"
	"io"
	"runtime/debug"
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
  certgal version
`
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

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
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "certgal %s\n", versionString())
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usageString)
		return exitOK
	}
	fmt.Fprintf(stderr, "certgal: unknown command %q\n%s", args[0], usageString)
	return exitUsage
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
