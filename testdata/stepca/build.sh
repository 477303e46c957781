#!/usr/bin/env bash
# Build (once) the released step-ca and step CLI that the tests run, and print the directory that
# holds them. Later runs reuse the cached binaries.
#
# Usage: testdata/stepca/build.sh
#
# Environment: CERTGAL_TOOLS (default /var/cache/certgal-tools) is the cache root; the binaries
# land in $CERTGAL_TOOLS/smallstep-$STEPCA_VERSION/. STEPCA_VERSION (default v0.30.2) pins both
# modules: `step@latest` resolves to an old v0.21.0.
#
# Exit codes: 0 built or cached; 1 the build failed; 3 go is missing (callers may skip).
set -euo pipefail

STEPCA_VERSION="${STEPCA_VERSION:-v0.30.2}"
ROOT="${CERTGAL_TOOLS:-/var/cache/certgal-tools}"
OUT="$ROOT/smallstep-$STEPCA_VERSION"
export PATH="/usr/local/go/bin:$PATH"

command -v go >/dev/null 2>&1 || { echo "build.sh: go is not installed" >&2; exit 3; }
if [[ -x "$OUT/step-ca" && -x "$OUT/step" ]]; then
	echo "$OUT"
	exit 0
fi

mkdir -p "$ROOT"
# Parallel tests build once: the second waits for the first.
exec 9>"$ROOT/.smallstep-$STEPCA_VERSION.lock"
flock 9
if [[ ! -x "$OUT/step-ca" || ! -x "$OUT/step" ]]; then
	tmp="$(mktemp -d "$ROOT/.build.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	echo "build.sh: building step-ca and step $STEPCA_VERSION into $OUT (minutes, once)" >&2
	start=$SECONDS
	# Without cgo: step-ca's YubiKey/PKCS#11 support needs libpcsclite otherwise.
	# One module per `go install pkg@version`.
	for pkg in github.com/smallstep/certificates/cmd/step-ca github.com/smallstep/cli/cmd/step; do
		GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install "$pkg@$STEPCA_VERSION" >&2 ||
			{ echo "build.sh: go install $pkg@$STEPCA_VERSION failed" >&2; exit 1; }
	done
	rm -rf "$OUT"
	chmod 755 "$tmp"
	mv "$tmp" "$OUT"
	trap - EXIT
	echo "build.sh: built in $((SECONDS - start)) s" >&2
fi
echo "$OUT"
