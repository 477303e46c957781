package main

import (
	"flag"
	"fmt"
	"io"
)

func cmdCheckConfig(args []string, stdout, stderr io.Writer) int {
	path, err := parseFlags(flag.NewFlagSet("check-config", flag.ContinueOnError), args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "certgal check-config: %v\n", err)
		return exitUsage
	}
	cfg, ok := loadConfig(path, stderr)
	if !ok {
		return exitUsage
	}
	// The CA side is built as a pass would build it (files only, no connection),
	// so what only it can tell (a CA file that does not parse, an unsupported
	// driver) is a configuration error here too.
	if _, err := newPipelineParts(cfg, newLogger(cfg.Log, io.Discard)); err != nil {
		fmt.Fprintf(stderr, "certgal: invalid configuration %s:\n%v\n", path, err)
		return exitUsage
	}
	out, err := cfg.Effective()
	if err != nil {
		fmt.Fprintf(stderr, "certgal check-config: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "# effective configuration of %s (secrets hidden)\n%s", path, out)
	return exitOK
}
