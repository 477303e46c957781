#!/usr/bin/env bash
# Stop the Samba AD DC that testdata/samba/start.sh started in DIR.
#
#   testdata/samba/stop.sh DIR
#
# Signals only the PID recorded in DIR/samba.pid (and its process group, which start.sh gave it),
# and only after checking that this PID is still the samba that start.sh started for DIR — a PID
# the kernel has since reused for something else is left alone. Waits at most 10s for SIGTERM,
# then SIGKILLs, and fails if anything of that instance remains.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$(cd "$1" && pwd)
log() { echo "stop.sh: $*" >&2; }

if [ ! -s "$DIR/samba.pid" ]; then
	log "no $DIR/samba.pid: nothing to stop"
	exit 0
fi
PID=$(cat "$DIR/samba.pid")
case $PID in '' | *[!0-9]*) log "bad PID '$PID' in $DIR/samba.pid"; exit 1 ;; esac

# samba rewrites its command line and, with it, the memory /proc/PID/environ shows ("samba: root
# process"), so an instance is recognised by its standard output, which start.sh pointed at
# DIR/log/samba.out.
ours() { # is PID $1 a samba of this instance?
	[ "$(cat "/proc/$1/comm" 2>/dev/null)" = samba ] || return 1
	[ "$(readlink "/proc/$1/fd/1" 2>/dev/null)" = "$DIR/log/samba.out" ]
}
# Everything left of this instance: any samba writing to its DIR/log/samba.out, plus (once PID is known to be
# ours and to lead its own group, as start.sh arranges) the rest of that process group. Zombies
# are ignored: they hold no port and no file.
GROUP=
remaining() {
	local p
	{
		[ -z "$GROUP" ] || pgrep -g "$GROUP" 2>/dev/null || true
		for p in $(pgrep -x samba 2>/dev/null || true); do
			if ours "$p"; then echo "$p"; fi
		done
	} | sort -u | while read -r p; do
		# A process that exited since pgrep listed it has no stat at all: it is gone, not left.
		st=$(ps -o stat= -p "$p" 2>/dev/null) || continue
		[ -z "$st" ] || [ "${st:0:1}" = Z ] || echo "$p"
	done
}

start=$(date +%s.%N)
if ! ours "$PID"; then
	if [ -n "$(remaining)" ]; then
		log "PID $PID is not the samba of $DIR, but these are: $(remaining | tr '\n' ' ')"
		exit 1
	fi
	log "samba PID $PID has already exited"
	rm -f "$DIR/samba.pid"
	exit 0
fi
[ "$(ps -o pgid= -p "$PID" 2>/dev/null | tr -d ' ')" = "$PID" ] && GROUP=$PID

signal() { # signal SIG: the group if samba leads one, else the PID alone
	if [ -n "$GROUP" ]; then
		kill "-$1" -- "-$GROUP" 2>/dev/null || true
	else
		kill "-$1" "$PID" 2>/dev/null || true
	fi
}

signal TERM
for _ in $(seq 100); do
	[ -z "$(remaining)" ] && break
	sleep 0.1
done
if [ -n "$(remaining)" ]; then
	log "samba PID $PID still running after 10s: SIGKILL"
	signal KILL
	for pid in $(remaining); do kill -KILL "$pid" 2>/dev/null || true; done
fi
# A killed process takes a moment to leave the process table on a loaded machine: read what is
# left once, after waiting for it, rather than twice (the second read once found nothing).
left=
for _ in $(seq 50); do
	left=$(remaining | tr '\n' ' ') || true # under set -e: a status is no list
	[ -z "$left" ] && break
	sleep 0.1
done
if [ -n "$left" ]; then
	log "could not stop: $left"
	exit 1
fi
rm -f "$DIR/samba.pid"
log "stopped samba PID $PID in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2fs", b - a }')"
