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

is_ours() {
	local pid="$1" exe state
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
	[[ "$(basename "$exe")" == step-ca ]] || return 1
	state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)"
	[[ "$state" != Z ]] || return 1
	tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$DIR/step/config/ca.json"
}

[[ -s "$DIR/step-ca.pid" ]] || exit 0
pid="$(tr -d '[:space:]' <"$DIR/step-ca.pid")"
if is_ours "$pid"; then
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 200; i++)); do # 10 s
		is_ours "$pid" || break
		sleep 0.05
	done
	if is_ours "$pid"; then
		echo "stepca/stop.sh: step-ca $pid did not exit within 10 s of SIGTERM; sending SIGKILL" >&2
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 40; i++)); do
			is_ours "$pid" || break
			sleep 0.05
		done
		! is_ours "$pid" || die "step-ca $pid still running"
	fi
fi
rm -f "$DIR/step-ca.pid"
