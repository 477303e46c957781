package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Set at build time by `make build` and `make release` (-ldflags "-X main.version=…"):
// the VERSION file, the commit, and the commit's time (not the build's, so that two
// builds of one commit are the same bytes).
var (
	version   = ""
	revision  = ""
	buildDate = ""
)

// buildInfo is what `certgal version` prints and certgal_build_info exports.
type buildInfo struct {
	Version, Revision, BuildDate, GoVersion, Platform string
}

// currentBuild reads the stamped values; a binary built without them (go build,
// go install) says what the Go toolchain knows instead.
func currentBuild() buildInfo {
	b := buildInfo{Version: version, Revision: revision, BuildDate: buildDate,
		GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if b.Version == "" {
		b.Version = "(devel)"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
			b.Version = bi.Main.Version // go install …@vX.Y.Z
		}
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	if b.BuildDate == "" {
		b.BuildDate = "unknown"
	}
	return b
}

func (b buildInfo) String() string {
	return fmt.Sprintf("certgal, version %s (revision: %s)\n  build date: %s\n  go version: %s\n  platform:   %s\n",
		b.Version, b.Revision, b.BuildDate, b.GoVersion, b.Platform)
}

// registerBuildInfo exports certgal_build_info, always 1, with the build in its
// labels (the Prometheus exporters' convention), so a dashboard can show which
// version runs where and when it changed.
func registerBuildInfo(reg prometheus.Registerer, b buildInfo) {
	promauto.With(reg).NewGauge(prometheus.GaugeOpts{
		Name: "certgal_build_info",
		Help: "A metric with a constant '1' value labeled by version, revision and goversion from which certgal was built.",
		ConstLabels: prometheus.Labels{
			"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion,
		},
	}).Set(1)
}
