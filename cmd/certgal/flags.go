package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/certgal/certgal/config"
)

// parseFlags parses a subcommand's flags; -config is required by all of them.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (string, error) {
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration file (YAML)")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *path == "" {
		return "", errors.New("-config FILE is required")
	}
	return *path, nil
}

// loadConfig loads the file, printing every error at once.
func loadConfig(path string, stderr io.Writer) (*config.Config, bool) {
	cfg, err := config.LoadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "certgal: invalid configuration %s:\n%v\n", path, err)
		return nil, false
	}
	return cfg, true
}
