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

# shellcheck source=../lib/proc.sh
. "$(dirname "$0")/../lib/proc.sh"

if [[ -s "$PGROOT/data/postmaster.pid" ]]; then
	# SIGINT is PostgreSQL's fast shutdown (disconnects clients); SIGQUIT its immediate one.
	proc_stop "$(head -n1 "$PGROOT/data/postmaster.pid" | tr -d '[:space:]')" postgres "$PGROOT/data" INT 15 QUIT ||
		die "postgres still running"
fi
rm -rf -- "$PGROOT"
rm -f "$DIR/pgroot"
