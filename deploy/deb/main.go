// Command deb builds certgal's Debian package from nfpm.yaml with nfpm's deb
// packager alone. It is a module of its own so that nfpm and its dependencies
// stay out of certgal's go.mod; `make deb` runs it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
)

func main() {
	config := flag.String("config", "nfpm.yaml", "nfpm configuration; ${VAR} is expanded from the environment")
	target := flag.String("o", "", "the .deb to write")
	flag.Parse()
	if err := build(*config, *target); err != nil {
		fmt.Fprintf(os.Stderr, "deb: %v\n", err)
		os.Exit(1)
	}
}

func build(config, target string) error {
	if target == "" {
		return fmt.Errorf("-o FILE is required")
	}
	cfg, err := nfpm.ParseFile(config)
	if err != nil {
		return fmt.Errorf("parse %s: %w", config, err)
	}
	info, err := cfg.Get("deb")
	if err != nil {
		return fmt.Errorf("%s: %w", config, err)
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.Validate(info); err != nil {
		return fmt.Errorf("%s: %w", config, err)
	}
	f, err := os.Create(target)
	if err != nil {
		return err
	}
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		os.Remove(target)
		return fmt.Errorf("package %s: %w", target, err)
	}
	return f.Close()
}
