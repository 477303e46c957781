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

# A process that has exited but was not reaped yet (a zombie: its parent, start.sh, is gone and
# PID 1 may not reap) still answers kill -0, so look at its state and executable instead.
is_our_slapd() {
	local pid="$1" exe state
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
	[[ "$(basename "$exe")" == slapd ]] || return 1
	state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)"
	[[ "$state" != Z ]] || return 1
	tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$DIR/slapd.conf"
}

# slapd writes its pidfile once it is up; start.sh records $! before that, which covers a slapd
# that hangs during startup.
pid=""
for f in slapd.pid slapd.launch.pid; do
	if [[ -s "$DIR/$f" ]]; then
		candidate="$(tr -d '[:space:]' <"$DIR/$f")"
		if is_our_slapd "$candidate"; then
			pid="$candidate"
			break
		fi
	fi
done

if [[ -n "$pid" ]]; then
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do # 10 s
		is_our_slapd "$pid" || break
		sleep 0.05
	done
	if is_our_slapd "$pid"; then
		echo "stop.sh: slapd $pid did not exit within 10 s of SIGTERM; sending SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 40; i++)); do
			is_our_slapd "$pid" || break
			sleep 0.05
		done
		! is_our_slapd "$pid" || die "slapd $pid still running"
	fi
fi

rm -f "$DIR/slapd.launch.pid" "$DIR/slapd.pid"
if [[ -s "$DIR/sockdir" ]]; then
	sockdir="$(cat "$DIR/sockdir")"
	case "$sockdir" in /tmp/slapd-sock.*) rm -rf -- "$sockdir" ;; esac
	rm -f "$DIR/sockdir"
fi
