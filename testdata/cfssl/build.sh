#!/usr/bin/env bash
# Build (once) the released cfssl and cfssljson that the tests run, and print the directory that
# holds them. Later runs reuse the cached binaries.
#
# Usage: testdata/cfssl/build.sh
#
# Environment: CERTGAL_TOOLS (default /var/cache/certgal-tools) is the cache root; the binaries
# land in $CERTGAL_TOOLS/cfssl-$CFSSL_VERSION/, with the certdb goose migrations of the same
# version in migrations/. CFSSL_VERSION defaults to v1.6.5, the newest whose go.mod this
# machine's Go accepts (v1.7.x asks for a newer toolchain).
#
# Exit codes: 0 built or cached; 1 the build failed; 3 go is missing (callers may skip).
set -euo pipefail

CFSSL_VERSION="${CFSSL_VERSION:-v1.6.5}"
ROOT="${CERTGAL_TOOLS:-/var/cache/certgal-tools}"
OUT="$ROOT/cfssl-$CFSSL_VERSION"
export PATH="/usr/local/go/bin:$PATH"

command -v go >/dev/null 2>&1 || { echo "build.sh: go is not installed" >&2; exit 3; }
have() { [[ -x "$OUT/cfssl" && -x "$OUT/cfssljson" && -s "$OUT/migrations/pg/001_CreateCertificates.sql" ]]; }
if have; then
	echo "$OUT"
	exit 0
fi

mkdir -p "$ROOT"
# Parallel tests build once: the second waits for the first.
exec 9>"$ROOT/.cfssl-$CFSSL_VERSION.lock"
flock 9
if ! have; then
	tmp="$(mktemp -d "$ROOT/.build.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	echo "build.sh: building cfssl $CFSSL_VERSION into $OUT (a minute or two, once)" >&2
	start=$SECONDS
	GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
		go install "github.com/cloudflare/cfssl/cmd/cfssl@$CFSSL_VERSION" \
		"github.com/cloudflare/cfssl/cmd/cfssljson@$CFSSL_VERSION" >&2 ||
		{ echo "build.sh: go install cfssl@$CFSSL_VERSION failed" >&2; exit 1; }
	# The certdb schema ships as goose migrations in the module source; keep them with the
	# binaries of the same version.
	src="$(go mod download -json "github.com/cloudflare/cfssl@$CFSSL_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
	[[ -d "$src/certdb/pg/migrations" ]] || { echo "build.sh: no certdb/pg/migrations in the cfssl module" >&2; exit 1; }
	mkdir -p "$tmp/migrations"
	cp -r "$src/certdb/pg/migrations" "$tmp/migrations/pg"
	cp -r "$src/certdb/sqlite/migrations" "$tmp/migrations/sqlite"
	chmod -R u+w "$tmp/migrations"
	rm -rf "$OUT"
	chmod 755 "$tmp"
	mv "$tmp" "$OUT"
	trap - EXIT
	echo "build.sh: built in $((SECONDS - start)) s" >&2
fi
echo "$OUT"
