package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/certgal/certgal/certsource"
	"github.com/certgal/certgal/config"
	"github.com/certgal/certgal/ldapgal"
	"github.com/certgal/certgal/sync"
)

func newLogger(cfg config.Log, w io.Writer) *logrus.Logger {
	log := logrus.New()
	log.SetOutput(w)
	if lvl, err := logrus.ParseLevel(cfg.Level); err == nil {
		log.SetLevel(lvl)
	}
	if cfg.Format == "json" {
		log.SetFormatter(&logrus.JSONFormatter{})
	} else {
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	}
	return log
}

// newSource builds the configured CA store; an error is a configuration error.
func newSource(cfg config.Source, trust *certsource.Trust, log logrus.FieldLogger) (certsource.Source, error) {
	switch cfg.Kind {
	case "openssl":
		return certsource.NewOpenSSL(cfg.OpenSSL, trust, log), nil
	case "folder":
		return certsource.NewFolder(cfg.Folder, trust, log), nil
	case "stepca":
		return certsource.NewStepCA(cfg.StepCA, trust, log)
	case "cfssl":
		return certsource.NewCFSSL(cfg.CFSSL, trust, log)
	}
	return nil, fmt.Errorf("source.kind: %q is not supported by this version of certgal (supported: openssl, folder, stepca, cfssl)", cfg.Kind)
}

// policyFrom reads the policy section; dialectPolicy adds what the directory's
// dialect decides once it is known.
func policyFrom(p config.Policy) sync.Policy {
	// config validation admits only known modes; anything else reads as
	// report, the mode that writes nothing.
	smime, _ := sync.ParseSMIMEMode(p.SMIMEAttribute)
	return sync.Policy{KeepAll: p.Keep == "all", ExpiredGrace: p.ExpiredGrace, MaxValues: p.MaxValues, MaxDeletes: p.MaxDeletes,
		SMIME: smime}
}

// dialectPolicy is the policy section with what the directory's dialect
// decides: its value limit and how it matches and deletes values.
func dialectPolicy(p config.Policy, d ldapgal.Dialect) sync.Policy {
	pol := policyFrom(p)
	pol.MaxValueBytes, pol.SMIMEWholeAttribute = d.MaxValueBytes, d.SMIMEWholeAttribute
	pol.CertMatchByIssuerSerial = d.CertMatchByIssuerSerial
	return pol
}

// pipeline is everything one pass needs, built from one configuration.
type pipeline struct {
	syncer *sync.Syncer
	dir    *ldapgal.Client
}

// configError marks errors that are the configuration's fault (exit status 2).
type configError struct{ error }

// sourceParts are the CA side of a pipeline: building them reads only local
// files, so their errors are configuration errors.
type sourceParts struct {
	trust *certsource.Trust
	src   certsource.Source
}

func newPipelineParts(cfg *config.Config, log logrus.FieldLogger) (sourceParts, error) {
	trust, err := certsource.LoadTrust(cfg.Trust.CAFiles)
	if err != nil {
		return sourceParts{}, configError{err}
	}
	src, err := newSource(cfg.Source, trust, log)
	if err != nil {
		return sourceParts{}, configError{err}
	}
	return sourceParts{trust, src}, nil
}

// newPipeline builds the pass for cfg. The metrics are created once per process
// (a registry takes each metric once) and shared by every pipeline a reload builds.
func newPipeline(ctx context.Context, cfg *config.Config, log logrus.FieldLogger, m *sync.Metrics, opts ...ldapgal.Option) (*pipeline, error) {
	parts, err := newPipelineParts(cfg, log)
	if err != nil {
		return nil, err
	}
	dir, err := ldapgal.Open(ctx, cfg.Dir, log, opts...)
	if err != nil {
		return nil, fmt.Errorf("directory: %w", err)
	}
	s := sync.NewSyncer(parts.src, dir, parts.trust, dialectPolicy(cfg.Policy, dir.Dialect()), log, m)
	if w := dir.Dialect().Workers; w > 0 {
		s.Workers = w
	}
	s.CacheDir = cacheDir(os.Getenv)
	return &pipeline{syncer: s, dir: dir}, nil
}

// cacheDir is where the classifier's file cache is kept (sync/cachefile.go):
// $CERTGAL_CACHE_DIR ("off" for nowhere), else systemd's $CACHE_DIRECTORY
// (CacheDirectory= in the unit), else the user's cache directory
// ($XDG_CACHE_HOME or ~/.cache), under certgal/. "" when there is none.
func cacheDir(getenv func(string) string) string {
	switch dir := getenv("CERTGAL_CACHE_DIR"); dir {
	case "off":
		return ""
	case "":
	default:
		return dir
	}
	if dirs := getenv("CACHE_DIRECTORY"); dirs != "" {
		// systemd joins several directories with ':'; certgal asks for one.
		dir, _, _ := strings.Cut(dirs, ":")
		return dir
	}
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "certgal")
	}
	return ""
}

func (p *pipeline) Close() { p.dir.Close() }
