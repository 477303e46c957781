package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/certgal/certgal/certsource"
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
	if _, err := certsource.LoadTrust(cfg.Trust.CAFiles); err != nil {
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
