# certgal — see README.md. Every target installs what it needs on Debian 12 (as root).
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH):/usr/sbin:/sbin
GO ?= go
# Under CI=true a server that cannot be started fails its tests instead of skipping them.
export CI

.PHONY: all build test test-sources unit lint demo fuzz clean ldflags

all: build

# Every build says what it is (`certgal version`, certgal_build_info): the release it prepares
# (the VERSION file), the commit (with -dirty when tracked files differ from it) and the commit's
# time, not the clock's, so that two builds of one commit are the same bytes. Outside a git
# checkout, give them on the command line: make build REVISION=… BUILD_DATE=….
VERSION := $(shell cat VERSION)
REVISION := $(shell r=$$(git rev-parse HEAD 2>/dev/null) && { git diff --quiet HEAD -- || r=$$r-dirty; echo $$r; })
BUILD_DATE := $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null)
LDFLAGS := -X main.version=$(VERSION) -X main.revision=$(REVISION) -X main.buildDate=$(BUILD_DATE)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/certgal ./cmd/certgal

# The stamp flags alone, for tests and for builds outside make.
ldflags:
	@echo '$(LDFLAGS)'

# Static release binaries and their SHA256SUMS in $(DIST). Reproducible: no cgo, no paths
# (-trimpath), no build ID, no VCS stamp, and the date is the commit's, so two builds of one commit
# give the same bytes (`make test-release` checks it).
DIST ?= dist
RELEASE_PLATFORMS := linux/amd64 linux/arm64 windows/amd64
.PHONY: release test-release
release:
	rm -rf $(DIST) && mkdir -p $(DIST)
	@set -e; for p in $(RELEASE_PLATFORMS); do \
	  os=$${p%/*}; arch=$${p#*/}; ext=; [ "$$os" != windows ] || ext=.exe; \
	  out=$(DIST)/certgal-$(VERSION)-$$os-$$arch$$ext; echo "== $$out"; \
	  CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -buildvcs=false \
	    -ldflags "-s -w -buildid= $(LDFLAGS)" -o $$out ./cmd/certgal; \
	done
	cd $(DIST) && sha256sum certgal-* >SHA256SUMS

# The Debian package in $(DIST), built by nfpm's deb packager (deploy/deb, a module of its own
# so that nfpm stays out of certgal's go.mod): the binary, the unit (deploy/systemd's, for
# /usr/bin), the example configuration as a conffile, the man page, docs/configuration.md, the
# maintainer scripts.
DEB_ARCH ?= amd64
DEB_VERSION ?= $(VERSION)
DEB_BUILD := $(DIST)/deb-build
DEB := $(DIST)/certgal_$(DEB_VERSION)_$(DEB_ARCH).deb
.PHONY: deb test-deb
deb:
	rm -rf $(DEB_BUILD) && mkdir -p $(DEB_BUILD)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(DEB_ARCH) $(GO) build -trimpath -buildvcs=false \
	  -ldflags "-s -w -buildid= $(LDFLAGS)" -o $(DEB_BUILD)/certgal ./cmd/certgal
	sed 's|/usr/local/bin/certgal|/usr/bin/certgal|g' deploy/systemd/certgal.service >$(DEB_BUILD)/certgal.service
	gzip -9n <deploy/deb/certgal.1 >$(DEB_BUILD)/certgal.1.gz
	gzip -9n <docs/configuration.md >$(DEB_BUILD)/configuration.md.gz
	{ echo "certgal ($(DEB_VERSION)) unstable; urgency=medium"; echo; \
	  echo "  * certgal $(DEB_VERSION): see https://github.com/certgal/certgal/blob/main/CHANGELOG.md"; echo; \
	  echo " -- The certgal Authors <certgal@users.noreply.github.com>  $$(date -u -R -d '$(BUILD_DATE)')"; } | \
	  gzip -9n >$(DEB_BUILD)/changelog.gz
	cd deploy/deb && $(GO) build -o $(abspath $(DEB_BUILD))/nfpm-deb .
	DEB_ARCH=$(DEB_ARCH) DEB_VERSION=$(DEB_VERSION) DEB_BUILD=$(DEB_BUILD) \
	  $(DEB_BUILD)/nfpm-deb -config deploy/deb/nfpm.yaml -o $(DEB)
	rm -rf $(DEB_BUILD)
	@echo "$(DEB)"

# The package through lintian and a real install, upgrade, remove and purge in a throwaway root
# (testdata/deb/test.sh); the upgrade is the same package at a higher version.
DEB_TEST := dist/deb-test
test-deb:
	testdata/install-deps.sh
	cd deploy/deb && $(GO) vet .
	$(MAKE) --no-print-directory -s deb DIST=$(DEB_TEST) >/dev/null
	$(MAKE) --no-print-directory -s deb DIST=$(DEB_TEST)/upgrade DEB_VERSION=$(VERSION)+upgradetest >/dev/null
	testdata/deb/test.sh $(DEB_TEST)/certgal_$(VERSION)_amd64.deb $(DEB_TEST)/upgrade/certgal_$(VERSION)+upgradetest_amd64.deb
	rm -rf $(DEB_TEST)

# The Kubernetes manifests decoded strictly into the k8s.io/api types, every reference resolved,
# offline (deploy/kubernetes/check, a module of its own so that k8s.io stays out of go.mod).
.PHONY: test-kubernetes
test-kubernetes:
	cd deploy/kubernetes/check && $(GO) vet . && $(GO) test -count=1 .

# Two release builds of this tree, from two directories, give the same bytes.
test-release:
	GO=$(GO) VERSION=$(VERSION) REVISION=$(REVISION) BUILD_DATE=$(BUILD_DATE) testdata/release/reproducible.sh

# Functions a reader can hold in their head: no production function (tests and testdata aside)
# above cyclomatic complexity 15 (gocyclo) or longer than 80 lines (testdata/lint/funclen).
GOCYCLO := github.com/fzipp/gocyclo/cmd/gocyclo@v0.6.0
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(GOCYCLO) -over 15 -ignore '(_test\.go|(^|/)testdata/)' .
	$(GO) run ./testdata/lint/funclen -max 80 .

# Unit tests and integration tests against real slapd, Samba AD DC, PostgreSQL, step-ca and
# CFSSL, with the race detector. step-ca and CFSSL are built from their released modules on the
# first run (about 3 minutes) and cached under /var/cache/certgal-tools.
test: lint test-release test-deb test-kubernetes
	testdata/install-deps.sh
	testdata/stepca/build.sh >/dev/null
	testdata/cfssl/build.sh >/dev/null
	CERTGAL_SOURCES=1 $(GO) test -race -count=1 -timeout 14m ./...
	$(MAKE) --no-print-directory fuzz FUZZTIME=20000x

# Only the stepca and cfssl sources against real step-ca and CFSSL servers over a private
# PostgreSQL, end to end into slapd (`make test` runs them too).
test-sources:
	testdata/install-deps.sh
	testdata/stepca/build.sh >/dev/null
	testdata/cfssl/build.sh >/dev/null
	CERTGAL_SOURCES=1 $(GO) test -race -count=1 -timeout 15m -run 'StepCA|CFSSL|Sources' ./certsource/ ./cmd/certgal/

# Fuzz runs of every fuzz target: 200,000 inputs each (20 to 60 s here); `make test` runs their
# seed corpora, then 20,000 inputs each (1 to 5 s). A count, not a duration: Go 1.26's coordinator
# can fail a duration run with a bare "context deadline exceeded" when it ends mid-input
# (go.dev/issue/75804, fixed in 1.27). A real finding prints "Failing input written to ...".
FUZZTIME ?= 200000x
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 3s $$pkg; \
	  done; done

# A throwaway OpenLDAP and OpenSSL CA, certgal run against them, and what it published.
demo: build
	testdata/demo/demo.sh bin/certgal

clean:
	rm -rf bin dist

# Benchmark, not a test: certgal's GET /certs/{email} against nginx serving the same DER files
# (and a bare net/http handler), same run, over BENCH_N random addresses, in two phases
# (lookup/bench/bench.sh; results in docs/BENCHMARKS.md). Saturation: wrk (closed loop) at 4 and
# 32 connections, BENCH_ROUNDS rounds of BENCH_SECONDS, each server's maximum req/s. Open loop:
# vegeta (built at a fixed version, not in go.mod) at BENCH_OPEN_RATE_PCT % of nginx's maximum
# req/s over at most BENCH_OPEN_CONNS keep-alive connections, BENCH_OPEN_ROUNDS rounds of
# BENCH_OPEN_SECONDS: p50 ... p99.9, 429s, CPU of servers and generator, certgal's GC and heap.
# About 7 minutes at 100k; installs nginx and wrk.
.PHONY: bench-lookup
BENCH_N ?= 100000
BENCH_SECONDS ?= 10
BENCH_ROUNDS ?= 3
BENCH_OPEN_SECONDS ?= 10
BENCH_OPEN_RATE_PCT ?= 10
BENCH_OPEN_CONNS ?= 32
BENCH_OPEN_ROUNDS ?= 5
bench-lookup:
	BENCH_N=$(BENCH_N) BENCH_SECONDS=$(BENCH_SECONDS) BENCH_ROUNDS=$(BENCH_ROUNDS) \
	BENCH_OPEN_SECONDS=$(BENCH_OPEN_SECONDS) BENCH_OPEN_RATE_PCT=$(BENCH_OPEN_RATE_PCT) \
	BENCH_OPEN_CONNS=$(BENCH_OPEN_CONNS) BENCH_OPEN_ROUNDS=$(BENCH_OPEN_ROUNDS) GO=$(GO) lookup/bench/bench.sh

# Benchmark, not a test: certgal at BENCH_N users against a private slapd, with the reference
# tools in the same run (ldapsearch interleaved with the no-op passes, ldapmodify, a naive
# search-then-modify loop), then the daemon's memory as bench-daemon measures it, on the same
# world; prints tables and ratios (testdata/bench/bench.sh; results in docs/BENCHMARKS.md).
# BENCH_RUNS runs of each (medians); takes about 17 minutes at 100k with 3 runs
# (BENCH_SKIP_DAEMON=1: 4 fewer).
.PHONY: bench bench-daemon
BENCH_RUNS ?= 3
bench:
	BENCH_N=$(BENCH_N) BENCH_RUNS=$(BENCH_RUNS) GO=$(GO) testdata/bench/bench.sh

# Benchmark, not a test: certgal at BENCH_AD_N users against the Samba AD DC the tests start
# (testdata/samba/start.sh, in samba's default prefork model), with the reference tools in the
# same run: the first publish against `ldapmodify -f`, certgal's writes on 1 to 32 connections, a
# no-op pass against `ldapsearch`, with the client's and samba's CPU, binds and round trips; prints
# a table and ratios (testdata/bench/ad.sh; results in docs/BENCHMARKS.md). Holds the tests' Samba
# lock while it runs; about 30 minutes at 5,000 users with 3 rounds on 2 cores.
.PHONY: bench-ad
BENCH_AD_N ?= 5000
BENCH_AD_ROUNDS ?= 3
bench-ad:
	BENCH_AD_N=$(BENCH_AD_N) BENCH_AD_ROUNDS=$(BENCH_AD_ROUNDS) GO=$(GO) testdata/bench/ad.sh

# Benchmark, not a test: `certgal run` at BENCH_N users through six scheduled passes, one of them
# publishing a renewal of 10% of the certificates, with the lookup on and then off, Go's default
# settings: peak and steady RSS, heap and GC cycles against 2 x DER + 50 MB, and its no-op passes
# beside ldapsearch (testdata/bench/daemon.sh; about 5 minutes at 100k).
bench-daemon:
	BENCH_N=$(BENCH_N) GO=$(GO) testdata/bench/daemon.sh
