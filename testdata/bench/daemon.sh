#!/usr/bin/env bash
# `make bench-daemon` (and the last part of `make bench`): the memory of `certgal run`, the daemon,
# at BENCH_N users (default 100000) against a private slapd, through BENCH_DAEMON_PASSES scheduled
# passes (default 6), one of which publishes a renewal of BENCH_RENEW per cent of the users'
# certificates (default 10), with Go's default settings (GOMEMLIMIT, GOGC and GODEBUG unset). Not a
# test: it prints what it measured.
#
# Two daemons, one after the other, each from the same converged directory and CA store: the lookup
# on (lookup.listen and metrics.listen on 127.0.0.1), then, as the reference, the lookup off.
# Each daemon's config has `schedule: '@every Ns'` (BENCH_DAEMON_EVERY, default N/10000 seconds, at
# least 3) and the classification cache an earlier run left (as a restarted daemon finds it). The
# script waits for each pass by polling /metrics; after the 2nd it applies certgal-gen's
# renewed/ as `openssl ca` changes a store (the new certificates first, then index.txt by rename);
# after the pass that publishes them it asks the lookup (curl) for a few renewed users and checks
# it serves the renewed certificate. After every other pass it runs `ldapsearch` of the attributes
# certgal reads, between two passes, to set each no-op pass beside its neighbours (not run when the
# next tick is likely to come first; one that overlapped a pass anyway is reported and left out). Then the daemon is stopped by SIGTERM to its PID.
#
# It prints, for each daemon: peak RSS (GNU time's %M), RSS sampled from /proc/PID/status every
# second (the largest, and the steady value between passes), each pass's result, duration, changes,
# and RSS, Go heap and GC cycles at its end (go_memstats_heap_inuse_bytes, go_memstats_sys_bytes,
# go_gc_duration_seconds_count from /metrics), the budget 2 x DER + 50 MB (DER: the certificates
# certgal publishes, certgal-gen's published_der_bytes) beside the peak, and the no-op passes
# against ldapsearch.
#
# Environment: BENCH_N, BENCH_DAEMON_PASSES, BENCH_RENEW, BENCH_DAEMON_EVERY, BENCH_DAEMON_LOOKUP_PORT
# and BENCH_DAEMON_METRICS_PORT (default 18190 and 18191), GO. bench.sh hands over what it already
# has: DAEMON_WORLD (a certgal-gen world made with -renew), DAEMON_SNAPSHOT (a stopped slapd
# directory holding its users-current.ldif) and DAEMON_BIN (a directory with certgal); without
# them the script builds, generates and loads its own. BENCH_KEEP=1 keeps the work directory.
#
# Everything runs on loopback in a private temporary directory; every process it starts (certgal,
# slapd, the samplers) is stopped by PID when it exits, also when it is interrupted.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/sbin:/sbin:/usr/local/go/bin"
unset GOMEMLIMIT GOGC GODEBUG

N=${BENCH_N:-100000}
PASSES=${BENCH_DAEMON_PASSES:-6}
RENEW=${BENCH_RENEW:-10}
EVERY=${BENCH_DAEMON_EVERY:-$((N / 10000 > 3 ? N / 10000 : 3))}
LPORT=${BENCH_DAEMON_LOOKUP_PORT:-18190}
MPORT=${BENCH_DAEMON_METRICS_PORT:-18191}
GO=${GO:-go}
((PASSES >= 3)) || { echo "daemon: BENCH_DAEMON_PASSES must be at least 3 (the renewal is published by the 3rd)" >&2; exit 2; }

for port in "$LPORT" "$MPORT"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "daemon: port $port is in use; set BENCH_DAEMON_LOOKUP_PORT, BENCH_DAEMON_METRICS_PORT" >&2
		exit 1
	fi
done
need=()
[[ -x /usr/bin/time ]] || need+=(time)
command -v curl >/dev/null || need+=(curl)
if [[ ${#need[@]} -gt 0 ]]; then
	echo "daemon: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "${need[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi

tmp=$(mktemp -d /tmp/certgal-daemon.XXXXXX)
pids=()    # processes started in the background, stopped by PID at exit (certgal before its GNU time)
running="" # the slapd directory currently started
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [[ -n "$running" ]]; then testdata/slapd/stop.sh "$running" >/dev/null 2>&1 || true; fi
	if [[ -z "${BENCH_KEEP:-}" ]]; then rm -rf "$tmp"; else echo "daemon: kept $tmp" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

log() { echo "daemon: $*" >&2; }
# shellcheck source=../lib/numbers.sh
. testdata/lib/numbers.sh

if [[ -n "${DAEMON_WORLD:-}" ]]; then
	W=$DAEMON_WORLD B=$DAEMON_BIN SNAP=$DAEMON_SNAPSHOT
	[[ -f "$W/renewed/index.txt" ]] || { log "$W has no renewed/ (certgal-gen -renew)"; exit 1; }
else
	log "building certgal and certgal-gen; generating $N users with -renew $RENEW"
	B=$tmp/bin W=$tmp/world SNAP=$tmp/snap
	mkdir -p "$B"
	$GO build -o "$B/certgal" ./cmd/certgal
	$GO build -o "$B/certgal-gen" ./cmd/certgal-gen
	"$B/certgal-gen" -n "$N" -out "$W" -published current -renew "$RENEW" >&2
	PRELOAD_LDIF="$W/users-current.ldif" testdata/slapd/start.sh "$SNAP" >/dev/null
	testdata/slapd/stop.sh "$SNAP"
fi
json() { awk -v k="\"$1\":" '$1 == k {gsub(/[^0-9]/, "", $2); print $2; exit}' "$2"; }
der=$(json published_der_bytes "$W/summary.json")
der_after=$(awk '/"renewal": [{]/ {f = 1} f && /published_der_bytes/ {gsub(/[^0-9]/, ""); print; exit}' "$W/summary.json")
renewed=$(json renewed_users "$W/summary.json")
der_mb=$(calc "($der > $der_after ? $der : $der_after) / 1e6")
budget=$(calc "2 * $der_mb + 50")

# start_slapd: a fresh copy of the snapshot, started; sets URL, SUFFIX, ROOTDN, PW.
start_slapd() {
	if [[ -n "$running" ]]; then testdata/slapd/stop.sh "$running" >/dev/null; running=""; fi
	rm -rf "$tmp/slapd"
	cp -a "$SNAP" "$tmp/slapd"
	running=$tmp/slapd
	testdata/slapd/start.sh "$tmp/slapd" >/dev/null
	# shellcheck disable=SC1091
	. "$tmp/slapd/env"
	URL=$LDAP_URL SUFFIX=$LDAP_SUFFIX ROOTDN=$LDAP_ROOTDN PW=$LDAP_ROOTPW
	printf '%s' "$PW" >"$tmp/bind-password"
}

# write_config FILE LOOKUP_LISTEN: the world's certgal.yaml for the daemon: this slapd, the CA
# store copy in $tmp/ca, the schedule, the listeners on loopback.
write_config() {
	sed -e "s#^  url: .*#  url: $URL#" -e "s#^  bind_password_file: .*#  bind_password_file: $tmp/bind-password#" \
		-e "s#$W/ca#$tmp/ca#g" \
		-e "/^lookup:/,/^metrics:/ s#^  listen: .*#  listen: \"$2\"#" \
		-e "/^metrics:/,\$ s#^  listen: .*#  listen: 127.0.0.1:$MPORT#" "$W/certgal.yaml" >"$1"
	echo "schedule: '@every ${EVERY}s'" >>"$1"
}

ldapread() {
	ldapsearch -x -H "$URL" -D "$ROOTDN" -w "$PW" -b "$SUFFIX" -E pr=1000/noprompt '(objectClass=inetOrgPerson)' \
		'userCertificate;binary' userSMIMECertificate mail >/dev/null
}

# The CA store is copied to the same path for each daemon, and the classification cache is that of
# a run on it: both daemons start from the same store and cache.
export CERTGAL_CACHE_DIR=$tmp/cache
rm -rf "$tmp/ca" && cp -a "$W/ca" "$tmp/ca"
start_slapd
write_config "$tmp/prime.yaml" ""
"$B/certgal" sync -config "$tmp/prime.yaml" -dry-run >/dev/null 2>&1
cp -a "$tmp/cache" "$tmp/cache-primed"

# scrape: one line of /metrics figures: passes, adds, removes, heap in use, sys, GC cycles.
scrape() {
	curl -s --max-time 2 "http://127.0.0.1:$MPORT/metrics" | awk '
		/^certgal_sync_passes_total[{ ]/ { p += $NF }
		/^certgal_sync_changes_total[{]action="add"/ { a = $NF }
		/^certgal_sync_changes_total[{]action="remove"/ { r = $NF }
		/^go_memstats_heap_inuse_bytes / { h = $NF }
		/^go_memstats_sys_bytes / { s = $NF }
		/^go_gc_duration_seconds_count / { g = $NF }
		END { if (h != "") printf "%d %d %d %.0f %.0f %d\n", p, a, r, h, s, g }'
}

# passes_seen: passes the poller has seen finish, 0 before the first scrape.
passes_seen() { awk 'END {print NR ? $2 : 0}' "$d/metrics"; }

# wait_pass K: until the daemon has finished K passes (or died, or took far too long).
wait_pass() {
	local deadline=$((SECONDS + 20 * EVERY + N / 500 + 60))
	while (($(passes_seen) < $1)); do
		kill -0 "$cpid" 2>/dev/null || { log "certgal run exited:"; tail -5 "$d/log" >&2; exit 1; }
		((SECONDS < deadline)) || { log "pass $1 did not finish in time"; tail -5 "$d/log" >&2; exit 1; }
		sleep 0.2
	done
}

# wait_ready: until /readyz answers 200.
wait_ready() {
	local deadline=$((SECONDS + 120))
	until curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$MPORT/readyz"; do
		((SECONDS < deadline)) || { log "/readyz not ready 120 s after the first pass"; exit 1; }
		sleep 0.1
	done
}

# renew: the CA store's later state, applied as `openssl ca` does: new files, then index.txt.
renew() {
	cp "$W"/renewed/newcerts/*.pem "$tmp/ca/newcerts/"
	cp "$W/renewed/serial" "$tmp/ca/serial.new" && mv "$tmp/ca/serial.new" "$tmp/ca/serial"
	cp "$W/renewed/index.txt" "$tmp/ca/index.txt.new" && mv "$tmp/ca/index.txt.new" "$tmp/ca/index.txt"
}

# check_lookup: "OK of ASKED": of a few renewed users, how many the lookup serves their renewed
# certificate (DER) to, and nothing else; it asks again for up to 30 s, as the index is built
# after the pass.
check_lookup() {
	local got asked=$((renewed < 5 ? renewed : 5)) deadline=$((SECONDS + 30))
	while got=$(lookup_once "$asked") && ((got < asked && SECONDS < deadline)); do sleep 0.5; done
	echo "$got of $asked"
}

# lookup_once ASKED: how many of ASKED renewed users (spread over the renewals) get theirs.
lookup_once() {
	local line serial email ok=0
	while read -r line; do
		serial=$(cut -f4 <<<"$line")
		openssl x509 -in "$W/renewed/newcerts/$serial.pem" -outform DER -out "$d/want.der"
		email=$(openssl x509 -in "$W/renewed/newcerts/$serial.pem" -noout -email | head -1)
		curl -s --max-time 5 -H 'Accept: application/pkix-cert' -o "$d/got.der" "http://127.0.0.1:$LPORT/certs/$email"
		! cmp -s "$d/want.der" "$d/got.der" || ok=$((ok + 1))
	done < <(tail -n "$renewed" "$W/renewed/index.txt" | awk -v step=$((renewed / $1)) 'NR % step == 1 || step == 1' | head -n "$1")
	echo "$ok"
}

# daemon MODE: one daemon (MODE on: with the lookup; off: without), measured; writes $d/*.
daemon() {
	local mode=$1 k t1 lookup_ok="-" renew_pass=0
	d=$tmp/$mode
	mkdir -p "$d"
	rm -rf "$tmp/ca" "$CERTGAL_CACHE_DIR" && cp -a "$W/ca" "$tmp/ca" && cp -a "$tmp/cache-primed" "$CERTGAL_CACHE_DIR"
	start_slapd
	local listen=""
	[[ $mode != on ]] || listen=127.0.0.1:$LPORT
	write_config "$d/certgal.yaml" "$listen"
	local t0=$EPOCHREALTIME
	ldapread # unmeasured: slapd's and the kernel's caches warm for every daemon alike
	ls_warm=$(calc "$EPOCHREALTIME - $t0")
	log "daemon, lookup $mode: $N users, '@every ${EVERY}s', $PASSES passes; load $(load)"
	: >"$d/metrics" && : >"$d/rss" && : >"$d/ldapsearch" && : >"$d/skipped"
	/usr/bin/time -f '%e %M' -o "$d/time" "$B/certgal" run -config "$d/certgal.yaml" >"$d/out" 2>"$d/log" &
	local tpid=$! started=$EPOCHREALTIME
	cpid=""
	for _ in $(seq 100); do
		cpid=$(pgrep -P "$tpid" || true)
		[[ -z "$cpid" ]] || break
		sleep 0.05
	done
	[[ -n "$cpid" ]] || { log "certgal run did not start"; exit 1; }
	pids=("$cpid" "$tpid")
	(while kill -0 "$cpid" 2>/dev/null; do
		awk -v t="$EPOCHREALTIME" '/^VmRSS:/ {print t, $2}' "/proc/$cpid/status" 2>/dev/null || true
		sleep 1
	done) >"$d/rss" &
	pids+=("$!")
	(while kill -0 "$cpid" 2>/dev/null; do
		m=$(scrape || true)
		[[ -z "$m" ]] || echo "$EPOCHREALTIME $m"
		sleep 0.5
	done) >"$d/metrics" &
	pids+=("$!")

	for ((k = 1; k <= PASSES; k++)); do
		wait_pass "$k"
		# The lookup's first index is built after the first pass; /readyz answers 200 once it is
		# served. Later indexes are built and swapped under a ready daemon.
		if ((k == 1)) && [[ $mode == on ]]; then wait_ready; fi
		if ((k == 2)); then
			renew
			log "pass 2 done; renewal of $renewed users applied to the CA store"
			continue
		fi
		# the first pass that added anything (the changes are counted before the pass is)
		if ((renew_pass == 0)) && (($(awk 'END {print $4}' "$d/metrics") > 0)); then
			renew_pass=$k
			[[ $mode != on ]] || lookup_ok=$(check_lookup)
		fi
		# robfig's @every ticks fall on whole seconds, every EVERY from the schedule's start (the
		# daemon's start, or the second after): an ldapsearch that would likely reach the next tick
		# (half as long again as the warm-up's, and a second) is not run, as it would slow the pass.
		if awk -v s="$started" -v now="$EPOCHREALTIME" -v e="$EVERY" -v ls="$ls_warm" \
			'BEGIN { s = int(s); next_tick = s + (int((now - s) / e) + 1) * e; exit !(now + 1.5 * ls + 1 > next_tick) }'; then
			echo "  ldapsearch after pass $k not run: the next pass is due before it would end" >>"$d/skipped"
			continue
		fi
		t0=$EPOCHREALTIME
		ldapread
		t1=$EPOCHREALTIME
		echo "$k $t0 $t1 $(calc "$t1 - $t0")" >>"$d/ldapsearch"
	done
	final=$(scrape)
	kill -TERM "$cpid"
	wait "$tpid" || true
	for p in "${pids[@]:2}"; do wait "$p" 2>/dev/null || true; done
	pids=()
	testdata/slapd/stop.sh "$running" >/dev/null
	running=""
	echo "$final" >"$d/final"
	echo "$lookup_ok" >"$d/lookup_ok"
	echo "$renew_pass" >"$d/renew_pass"
	log "daemon, lookup $mode: done; load $(load)"
}

# passes_of MODE: one line a pass: k end duration_s result adds removes rss_kb heap sys gc.
passes_of() {
	local d=$tmp/$1
	# only the scheduled passes: one the SIGTERM cut short is not counted
	grep 'msg="pass finished"' "$d/log" | head -n "$PASSES" | awk '
		function secs(s, parts) {
			if (s ~ /ms$/) return substr(s, 1, length(s) - 2) / 1000
			if (s ~ /µs$/) return substr(s, 1, length(s) - 3) / 1e6
			if (s ~ /m/) { split(s, parts, "m"); return parts[1] * 60 + substr(parts[2], 1, length(parts[2]) - 1) }
			return substr(s, 1, length(s) - 1)
		}
		{ r = a = m = du = "-"
		  for (i = 1; i <= NF; i++) { split($i, kv, "=")
			if (kv[1] == "result") r = kv[2]; else if (kv[1] == "adds") a = kv[2]
			else if (kv[1] == "removes") m = kv[2]; else if (kv[1] == "duration") du = secs(kv[2]) }
		  print NR, du, r, a, m }' >"$d/passlog"
	# each pass's end as the poller saw it: its first scrape that counts the pass
	awk -v n="$PASSES" '{ for (k = 1; k <= n; k++) if (!(k in at) && $2 >= k) at[k] = $0 }
		END { for (k = 1; k <= n; k++) if (k in at) print k, at[k] }' "$d/metrics" >"$d/atend"
	awk 'NR == FNR { rss[NR] = $2; t[NR] = $1; n = NR; next }
		FILENAME ~ /atend$/ { e[$1] = $2; h[$1] = $6; s[$1] = $7; g[$1] = $8; next }
		{ k = $1; r = rss[n]; for (i = 1; i <= n; i++) if (t[i] >= e[k]) { r = rss[i]; break }
		  print k, e[k], $2, $3, $4, $5, r, h[k], s[k], g[k] }' "$d/rss" "$d/atend" "$d/passlog"
}

daemon on
daemon off

# --- report ---------------------------------------------------------------------------------------
mb() { awk -v v="$1" -v f="$2" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.0f", v * f / 1e6 }'; }
echo
echo "certgal run (the daemon): $N users, '@every ${EVERY}s', $PASSES passes, one publishing a renewal of $renewed users' certificates ($RENEW%); Go's defaults (no GOMEMLIMIT, GOGC); $(nproc) cores, load at end $(load)"
printf 'published DER: %.1f MB before the renewal, %.1f MB after; budget 2 x %.1f + 50 = %.0f MB\n' "$(calc "$der / 1e6")" \
	"$(calc "$der_after / 1e6")" "$der_mb" "$budget"
for mode in on off; do
	d=$tmp/$mode
	[[ -s "$d/log" ]] || continue
	passes_of "$mode" >"$d/passes"
	read -r _ peak_kb <"$d/time"
	peak=$(mb "$peak_kb" 1024)
	smax=$(awk '{print $2}' "$d/rss" | sort -g | tail -1)
	# between passes: samples outside every pass (its end less its duration, less the poll's 0.5 s)
	steady=$(awk 'NR == FNR { lo[NR] = $2 - $3 - 0.5; hi[NR] = $2; n = NR; if (NR == 1) first = $2; next }
		$1 > first { for (i = 1; i <= n; i++) if ($1 >= lo[i] && $1 <= hi[i] + 1) next; print $2 }' "$d/passes" "$d/rss" | median)
	heapmax=$(awk '{print $5}' "$d/metrics" | sort -g | tail -1)
	sysmax=$(awk '{print $6}' "$d/metrics" | sort -g | tail -1)
	read -r _ _ _ fheap fsys fgc <"$d/final"
	echo
	echo "lookup $mode:"
	printf '  %-4s %-14s %9s %8s %8s %11s %11s %11s %6s\n' pass result seconds adds removes "RSS MB" "heap MB" "sys MB" "GCs"
	while read -r k _ du r a m rss h s g; do
		printf '  %-4s %-14s %9.2f %8s %8s %11s %11s %11s %6s\n' "$k" "$r" "$du" "$a" "$m" "$(mb "$rss" 1024)" "$(mb "$h" 1)" "$(mb "$s" 1)" "$g"
	done <"$d/passes"
	printf '  %-44s %6s MB  (budget %.0f MB: %.2fx)\n' "peak RSS (GNU time %M)" "$peak" "$budget" "$(calc "$peak / $budget")"
	printf '  %-44s %6s MB\n' "RSS sampled every second: largest" "$(mb "$smax" 1024)"
	printf '  %-44s %6s MB\n' "RSS between passes (median, after pass 1)" "$(mb "$steady" 1024)"
	printf '  %-44s %6s MB (at the end %s MB); Go sys largest %s MB (at the end %s MB)\n' "Go heap in use, largest scraped" \
		"$(mb "$heapmax" 1)" "$(mb "$fheap" 1)" "$(mb "$sysmax" 1)" "$(mb "$fsys" 1)"
	printf '  %-44s %6s\n' "GC cycles (go_gc_duration_seconds_count)" "$fgc"
	[[ $mode != on ]] || printf '  %-44s %s renewed users served their renewed certificate after pass %s\n' "lookup check (curl)" \
		"$(cat "$d/lookup_ok")" "$(cat "$d/renew_pass")"
	echo "$mode $peak $(mb "$steady" 1024) $(mb "$smax" 1024)" >>"$tmp/summary"
	# no-op passes (neither the first nor one with changes) beside the ldapsearch runs that are its
	# neighbours (after the pass before, after the pass) and overlapped no pass
	awk 'NR == FNR { lo[$1] = $2 - $3 - 0.5; hi[$1] = $2; du[$1] = $3; ch[$1] = $5 + $6; n = $1; next }
		{ ov = 0; for (i = 1; i <= n; i++) if ($2 < hi[i] && $3 > lo[i]) ov = 1
		  if (ov) { print "  ldapsearch after pass " $1 " overlapped a pass: left out" > "/dev/stderr"; next }
		  ls[$1] = $4 }
		END { for (k = 2; k <= n; k++) { if (ch[k] > 0) continue; s = 0; c = 0
			if ((k - 1) in ls) { s += ls[k - 1]; c++ } if (k in ls) { s += ls[k]; c++ }
			if (c) printf "%d %.3f %.3f %.3f\n", k, du[k], s / c, du[k] / (s / c) } }' "$d/passes" "$d/ldapsearch" >"$d/noop" 2>"$d/noop.err"
	sed 's/^/ /' "$d/noop.err"
	cat "$d/skipped"
	if [[ -s "$d/noop" ]]; then
		printf '  no-op passes / the ldapsearch runs beside them: median %.2fx (%s)\n' "$(awk '{print $4}' "$d/noop" | median)" \
			"$(awk '{printf "%spass %d %.2f s / %.2f s = %.2fx", (NR > 1 ? "; " : ""), $1, $2, $3, $4}' "$d/noop")"
	fi
done
if [[ -s "$tmp/summary" ]]; then
	read -r _ pon son mon < <(awk '$1 == "on"' "$tmp/summary") || true
	read -r _ poff soff moff < <(awk '$1 == "off"' "$tmp/summary") || true
	echo
	printf 'peak RSS: lookup on %s MB, off %s MB; budget %.0f MB (2 x DER + 50); between passes: on %s MB, off %s MB\n' \
		"${pon:--}" "${poff:--}" "$budget" "${son:--}" "${soff:--}"
fi
