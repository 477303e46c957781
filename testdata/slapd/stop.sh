#!/usr/bin/env bash
# Stop the private slapd that start.sh started in DIR. DIR itself is left for the caller to delete.
#
# Usage: testdata/slapd/stop.sh DIR
#
# Only a process that is a slapd started with DIR/slapd.conf is signalled; anything else (a stale
# pidfile whose PID was reused) is left alone. Exits 0 when no slapd of DIR runs afterwards.
set -euo pipefail

die() { echo "stop.sh: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
[[ -d "$1" ]] || die "no such directory: $1"
DIR="$(cd "$1" && pwd -P)"

# shellcheck source=../lib/proc.sh
. "$(dirname "$0")/../lib/proc.sh"

# slapd writes its pidfile once it is up; start.sh records $! before that, which covers a slapd
# that hangs during startup.
for f in slapd.pid slapd.launch.pid; do
	if [[ -s "$DIR/$f" ]]; then
		proc_stop "$(tr -d '[:space:]' <"$DIR/$f")" slapd "$DIR/slapd.conf" || die "slapd still running"
	fi
done

rm -f "$DIR/slapd.launch.pid" "$DIR/slapd.pid"
if [[ -s "$DIR/sockdir" ]]; then
	sockdir="$(cat "$DIR/sockdir")"
	case "$sockdir" in /tmp/slapd-sock.*) rm -rf -- "$sockdir" ;; esac
	rm -f "$DIR/sockdir"
fi
