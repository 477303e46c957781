#!/usr/bin/env bash
# Stop the cfssl serve that start.sh started in DIR, by its PID. DIR itself is left for the caller.
#
# Usage: testdata/cfssl/stop.sh DIR
#
# Only a cfssl process started from DIR is signalled; anything else (a stale pidfile whose PID was
# reused) is left alone. Exits 0 when no cfssl serve of DIR runs afterwards.
set -euo pipefail

die() { echo "cfssl/stop.sh: $*" >&2; exit 1; }
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
[[ -d "$1" ]] || die "no such directory: $1"
DIR="$(cd "$1" && pwd -P)"

# shellcheck source=../lib/proc.sh
. "$(dirname "$0")/../lib/proc.sh"

[[ -s "$DIR/cfssl.pid" ]] || exit 0
proc_stop "$(tr -d '[:space:]' <"$DIR/cfssl.pid")" cfssl "$DIR/db.json" || die "cfssl still running"
rm -f "$DIR/cfssl.pid"
