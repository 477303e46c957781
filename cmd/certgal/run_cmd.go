package main

import (
	"context"
	"fmt"
	"io"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "certgal run: the daemon is not implemented yet; use `certgal sync` from a timer")
	return exitUsage
}
