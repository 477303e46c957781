#!/usr/bin/env bash
# Stop the private PostgreSQL that start.sh started for DIR, by its PID, and remove its cluster
# directory. DIR itself is left for the caller to delete.
#
# Usage: testdata/postgres/stop.sh DIR
#
# Only a postgres process running the cluster start.sh made is signalled; anything else (a stale
# pidfile whose PID was reused) is left alone. Exits 0 when no server of DIR runs afterwards.
set -euo pipefail

die() { echo "postgres/stop.sh: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
[[ -d "$1" ]] || die "no such directory: $1"
DIR="$(cd "$1" && pwd -P)"
[[ -s "$DIR/pgroot" ]] || exit 0
PGROOT="$(cat "$DIR/pgroot")"
case "$PGROOT" in /tmp/certgal-pg.*) ;; *) die "$DIR/pgroot names $PGROOT, not a cluster of start.sh" ;; esac

is_our_postgres() {
	local pid="$1" exe state
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
	[[ "$(basename "$exe")" == postgres ]] || return 1
	state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)"
	[[ "$state" != Z ]] || return 1
	tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$PGROOT/data"
}

pid=""
if [[ -s "$PGROOT/data/postmaster.pid" ]]; then
	pid="$(head -n1 "$PGROOT/data/postmaster.pid" | tr -d '[:space:]')"
fi
if [[ -n "$pid" ]] && is_our_postgres "$pid"; then
	kill -INT "$pid" 2>/dev/null || true # fast shutdown: disconnects clients
	for ((i = 0; i < 300; i++)); do      # 15 s
		is_our_postgres "$pid" || break
		sleep 0.05
	done
	if is_our_postgres "$pid"; then
		echo "postgres/stop.sh: postgres $pid did not exit within 15 s of SIGINT; sending SIGQUIT" >&2
		kill -QUIT "$pid" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			is_our_postgres "$pid" || break
			sleep 0.05
		done
		! is_our_postgres "$pid" || die "postgres $pid still running"
	fi
fi
rm -rf -- "$PGROOT"
rm -f "$DIR/pgroot"
