#!/usr/bin/env bash
# `make test-release`: builds the release twice, once here and once from a copy of the tree at
# another path (what -trimpath must hide), and fails unless every file is the same bytes. Then
# checks what can be checked of each binary on this machine: the Linux ones are static, the amd64
# one prints the stamped version and accepts a configuration; the Windows one is a PE executable
# for amd64.
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${GO:=go}" "${VERSION:?}" "${REVISION:?}" "${BUILD_DATE:?}"
tmp=$(mktemp -d /tmp/certgal-release.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
stamp=(VERSION="$VERSION" REVISION="$REVISION" BUILD_DATE="$BUILD_DATE" GO="$GO")

make -s --no-print-directory release DIST="$tmp/a" "${stamp[@]}" >/dev/null
mkdir "$tmp/src"
git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$tmp/src" 2>/dev/null ||
	{ echo "reproducible.sh: cannot copy the tree" >&2; exit 1; }
make -s --no-print-directory -C "$tmp/src" release DIST="$tmp/b" "${stamp[@]}" >/dev/null

fail=0
want="certgal-$VERSION-linux-amd64 certgal-$VERSION-linux-arm64 certgal-$VERSION-windows-amd64.exe SHA256SUMS"
got=$(cd "$tmp/a" && ls | sort | tr '\n' ' ' | sed 's/ $//')
[ "$got" = "$(tr ' ' '\n' <<<"$want" | sort | tr '\n' ' ' | sed 's/ $//')" ] ||
	{ echo "release holds: $got; want: $want" >&2; fail=1; }
for f in $want; do
	cmp -s "$tmp/a/$f" "$tmp/b/$f" || { echo "not reproducible: $f differs between two builds" >&2; fail=1; }
done
(cd "$tmp/a" && sha256sum --quiet -c SHA256SUMS) || fail=1

# ELF: byte 4 is the class (2: 64-bit), bytes 18-19 the machine (0x3e amd64, 0xb7 arm64); no
# PT_INTERP program header means static. PE: "MZ", and the machine 0x8664 after "PE\0\0".
elf_machine() { od -An -tx1 -j18 -N2 "$1" | tr -d ' \n'; }
[ "$(elf_machine "$tmp/a/certgal-$VERSION-linux-amd64")" = 3e00 ] || { echo "linux-amd64 is not an amd64 ELF" >&2; fail=1; }
[ "$(elf_machine "$tmp/a/certgal-$VERSION-linux-arm64")" = b700 ] || { echo "linux-arm64 is not an arm64 ELF" >&2; fail=1; }
for a in amd64 arm64; do
	if LC_ALL=C grep -qa 'ld-linux' "$tmp/a/certgal-$VERSION-linux-$a"; then
		echo "linux-$a names a dynamic loader: not static" >&2; fail=1
	fi
done
exe="$tmp/a/certgal-$VERSION-windows-amd64.exe"
pe=$(od -An -tu4 -j60 -N4 "$exe" | tr -d ' ')
[ "$(head -c2 "$exe")" = MZ ] && [ "$(od -An -tx1 -j"$pe" -N6 "$exe" | tr -d ' \n')" = 504500006486 ] ||
	{ echo "windows-amd64.exe is not an amd64 PE executable" >&2; fail=1; }

bin="$tmp/a/certgal-$VERSION-linux-amd64"
out=$("$bin" version)
grep -qF "version $VERSION (revision: $REVISION)" <<<"$out" && grep -qF "build date: $BUILD_DATE" <<<"$out" ||
	{ echo "certgal version printed:" >&2; echo "$out" >&2; fail=1; }
cat >"$tmp/certgal.yaml" <<YAML
source: {kind: folder, folder: {dir: $tmp}}
trust: {ca_files: [$PWD/testdata/config/files/ca.pem]}
directory:
  url: ldaps://dc1.corp.example
  base_dn: DC=corp,DC=example
YAML
"$bin" check-config -config "$tmp/certgal.yaml" >/dev/null || { echo "the release binary refused a valid configuration" >&2; fail=1; }
# Not run: Debian 12's wine (8.0) lacks bcryptprimitives.dll, which Go 1.26's runtime loads.
echo "reproducible.sh: the Windows build was cross-compiled and checked as a PE file, not run" >&2
[ "$fail" = 0 ] && echo "release: $want reproducible"
exit "$fail"
