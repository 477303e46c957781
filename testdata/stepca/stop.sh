#!/usr/bin/env bash
# Stop the step-ca that start.sh started in DIR, by its PID. DIR itself is left for the caller.
#
# Usage: testdata/stepca/stop.sh DIR
#
# Only a step-ca process started from DIR is signalled; anything else (a stale pidfile whose PID was
# reused) is left alone. Exits 0 when no step-ca of DIR runs afterwards.
set -euo pipefail

die() { echo "stepca/stop.sh: $*" >&2; exit 1; }
[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
[[ -d "$1" ]] || die "no such directory: $1"
DIR="$(cd "$1" && pwd -P)"

# shellcheck source=../lib/proc.sh
. "$(dirname "$0")/../lib/proc.sh"

[[ -s "$DIR/step-ca.pid" ]] || exit 0
proc_stop "$(tr -d '[:space:]' <"$DIR/step-ca.pid")" step-ca "$DIR/step/config/ca.json" || die "step-ca still running"
rm -f "$DIR/step-ca.pid"
