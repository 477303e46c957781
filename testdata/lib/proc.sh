# Sourced by the testdata stop scripts: recognise and stop a server by the PID we recorded,
# never anything else.

# proc_is PID NAME ARG: PID is a live NAME process whose command line holds the argument ARG.
# A zombie (exited, not yet reaped: PID 1 here may reap late) still answers kill -0, so the
# state and the executable are read from /proc instead.
proc_is() {
	local pid="$1" name="$2" arg="$3" exe state
	[[ "$pid" =~ ^[0-9]+$ ]] || return 1
	exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || return 1
	[[ "$(basename "$exe")" == "$name" ]] || return 1
	state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)"
	[[ "$state" != Z ]] || return 1
	tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$arg"
}

# proc_stop PID NAME ARG [SIGNAL] [SECONDS] [HARD]: send SIGNAL (TERM) to PID if it is ours,
# wait up to SECONDS (10), then send HARD (KILL) and wait 5 s more. Fails if it still runs.
proc_stop() {
	local pid="$1" name="$2" arg="$3" sig="${4:-TERM}" secs="${5:-10}" hard="${6:-KILL}" i
	proc_is "$pid" "$name" "$arg" || return 0
	kill "-$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 20; i++)); do
		proc_is "$pid" "$name" "$arg" || return 0
		sleep 0.05
	done
	echo "$name $pid did not exit within $secs s of SIG$sig; sending SIG$hard" >&2
	kill "-$hard" "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		proc_is "$pid" "$name" "$arg" || return 0
		sleep 0.05
	done
	echo "$name $pid still running" >&2
	return 1
}

# proc_watchdog OWNER PID NAME ARG [SIGNAL]: in the background, send SIGNAL (TERM) to our PID
# once the process OWNER is gone, so a killed `go test` leaves no server behind.
proc_watchdog() {
	local owner="$1" pid="$2" name="$3" arg="$4" sig="${5:-TERM}"
	(
		while kill -0 "$owner" 2>/dev/null && proc_is "$pid" "$name" "$arg"; do
			sleep 1
		done
		if proc_is "$pid" "$name" "$arg"; then
			kill "-$sig" "$pid" 2>/dev/null || true
		fi
	) </dev/null >/dev/null 2>&1 &
}

# q VALUE quotes VALUE for a shell-sourceable env file.
q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
