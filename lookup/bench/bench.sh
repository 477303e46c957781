#!/usr/bin/env bash
# `make bench-lookup`: certgal's GET /certs/{email} against nginx serving the same DER files
# from disk (and, as a reference, a bare net/http handler serving the same bytes from a map),
# in the same run, in two phases over BENCH_N random addresses:
#
#  1. saturation: wrk (closed loop) at 4 and 32 connections, each server's maximum req/s;
#  2. open loop: vegeta at a fixed rate, BENCH_OPEN_RATE_PCT % of nginx's maximum req/s from
#     phase 1, over BENCH_OPEN_CONNS connections at most: the latency a sender sees at a
#     realistic load, queueing included (a closed loop waits for its answers and hides it).
#
# certgal runs with rate limiting and ETags on; its rate is raised so that the one benchmark
# client is not answered 429 (the open phase counts 429s to show it). During each of certgal's
# runs the script prints its garbage collections, heap and scheduling latencies (`bench serve
# -stats`), and for the open phase each server's CPU and the generator's.
#
# BENCH_OPEN_VARIANTS adds diagnostic certgal servers to the open phase's rounds, each a word:
# KEY=VALUE sets an environment variable of `bench serve` (GOGC=off, GOMAXPROCS=3,
# GODEBUG=gctrace=1), "norate" turns rate limiting off, "bin:PATH" runs another build of
# lookup/bench; several joined by commas make one variant (GOGC=off,norate).
#
# Everything is private: a temporary directory, nginx with its own configuration and pid file,
# the servers on 127.0.0.1 only, all stopped by PID at the end, also when interrupted.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/sbin:/sbin:/usr/local/go/bin"

N=${BENCH_N:-100000}
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-"4 32"}
CPORT=${BENCH_CERTGAL_PORT:-18080}
NPORT=${BENCH_NGINX_PORT:-18081}
BPORT=${BENCH_BARE_PORT:-18082}
SPORT=${BENCH_STATS_PORT:-18083} # certgal's runtime figures; variants use the ports after it
OPEN_SECS=${BENCH_OPEN_SECONDS:-10}
OPEN_PCT=${BENCH_OPEN_RATE_PCT:-10}
OPEN_RATE=${BENCH_OPEN_RATE:-} # req/s; overrides BENCH_OPEN_RATE_PCT
OPEN_CONNS=${BENCH_OPEN_CONNS:-32}
OPEN_ROUNDS=${BENCH_OPEN_ROUNDS:-5}
OPEN_TARGETS=${BENCH_OPEN_TARGETS:-100000}
read -r -a VARIANTS <<<"${BENCH_OPEN_VARIANTS:-}"
VEGETA_VERSION=v12.13.0
GO=${GO:-go}

need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
	echo "bench: installing ${need[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "${need[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
fi
vports=()
for i in "${!VARIANTS[@]}"; do vports+=($((SPORT + 1 + 2 * i)) $((SPORT + 2 + 2 * i))); done
for port in "$CPORT" "$NPORT" "$BPORT" "$SPORT" "${vports[@]}"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "bench: port $port is in use; set BENCH_CERTGAL_PORT, BENCH_NGINX_PORT, BENCH_BARE_PORT, BENCH_STATS_PORT" >&2
		exit 1
	fi
done

tmp=$(mktemp -d /tmp/certgal-bench.XXXXXX)
chmod 755 "$tmp" # nginx's workers run as nobody
certgal_pid=""
bare_pid=""
variant_pids=""
cleanup() {
	trap - INT TERM
	for pid in $certgal_pid $bare_pid $variant_pids; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ -s "$tmp/nginx/nginx.pid" ]; then
		npid=$(cat "$tmp/nginx/nginx.pid")
		kill "$npid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$npid" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

$GO build -o "$tmp/bench" ./lookup/bench
# The open-loop generator, built here at a fixed version rather than added to certgal's go.mod.
VEGETA=${VEGETA:-}
if [ -z "$VEGETA" ]; then
	GOBIN="$tmp" GOFLAGS= $GO install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION"
	VEGETA=$tmp/vegeta
fi
"$tmp/bench" gen -n "$N" -dir "$tmp/data"
chmod -R a+rX "$tmp/data"

# nginx: the issue's fair baseline. open_file_cache below the 20000 open-files limit, or it
# fails with "Too many open files"; no access log; keep-alive as long as certgal's.
mkdir -p "$tmp/nginx/tmp"
cat >"$tmp/nginx/nginx.conf" <<CONF
worker_processes auto;
worker_rlimit_nofile 20000;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx/tmp/body;
	proxy_temp_path $tmp/nginx/tmp/proxy;
	fastcgi_temp_path $tmp/nginx/tmp/fastcgi;
	uwsgi_temp_path $tmp/nginx/tmp/uwsgi;
	scgi_temp_path $tmp/nginx/tmp/scgi;
	types { }
	default_type application/pkix-cert;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	keepalive_timeout 120s;
	open_file_cache max=15000 inactive=60s;
	open_file_cache_valid 60s;
	open_file_cache_errors on;
	etag on;
	server {
		listen 127.0.0.1:$NPORT;
		root $tmp/data/www;
		location /certs/ {
			add_header Cache-Control "public, max-age=300";
			try_files \$uri =404;
		}
	}
}
CONF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf"

"$tmp/bench" serve -dir "$tmp/data" -listen "127.0.0.1:$CPORT" -rate 1e9 -burst 1000000000 -stats "127.0.0.1:$SPORT" &
certgal_pid=$!
"$tmp/bench" bare -dir "$tmp/data" -listen "127.0.0.1:$BPORT" &
bare_pid=$!
# Diagnostic variants of certgal, each with its output in a log file printed at the end.
vpids=()
for i in "${!VARIANTS[@]}"; do
	v=${VARIANTS[$i]} venv=() vflags=(-rate 1e9 -burst 1000000000) vbin=$tmp/bench
	IFS=, read -r -a parts <<<"$v"
	for part in "${parts[@]}"; do
		case $part in
		norate) vflags=(-rate 0) ;;
		bin:*) vbin=${part#bin:} ;;
		*=*) venv+=("$part") ;;
		*) echo "bench: unknown variant part $part (KEY=VALUE, norate, bin:PATH)" >&2; exit 1 ;;
		esac
	done
	env "${venv[@]}" "$vbin" serve -dir "$tmp/data" -listen "127.0.0.1:${vports[$((2 * i))]}" "${vflags[@]}" \
		-stats "127.0.0.1:${vports[$((2 * i + 1))]}" >"$tmp/variant$i.log" 2>&1 &
	variant_pids="$variant_pids $!"
	vpids+=($!)
done

ok=""
for _ in $(seq 600); do
	if curl -fsS -o /dev/null "http://127.0.0.1:$CPORT/certs/user000001@bench.example" 2>/dev/null &&
		curl -fsS -o /dev/null "http://127.0.0.1:$NPORT/certs/user000001@bench.example" 2>/dev/null &&
		curl -fsS -o /dev/null "http://127.0.0.1:$BPORT/certs/user000001@bench.example" 2>/dev/null; then
		ok=1
		break
	fi
	kill -0 "$certgal_pid" 2>/dev/null || break
	sleep 0.2
done
[ -n "$ok" ] || { echo "bench: a server did not come up" >&2; cat "$tmp/nginx/error.log" >&2 || true; exit 1; }
for i in "${!VARIANTS[@]}"; do
	for _ in $(seq 600); do
		curl -fsS -o /dev/null "http://127.0.0.1:${vports[$((2 * i))]}/certs/user000001@bench.example" 2>/dev/null && break
		sleep 0.2
	done
	curl -fsS -o /dev/null "http://127.0.0.1:${vports[$((2 * i))]}/certs/user000001@bench.example" ||
		{ echo "bench: variant ${VARIANTS[$i]} did not come up" >&2; cat "$tmp/variant$i.log" >&2; exit 1; }
done

# Both serve the same bytes, for an address picked at random.
addr=$(printf 'user%06d@bench.example' $(( (RANDOM * 32768 + RANDOM) % N + 1 )))
cmp <(curl -fsS "http://127.0.0.1:$CPORT/certs/$addr") <(curl -fsS "http://127.0.0.1:$NPORT/certs/$addr")
cmp <(curl -fsS "http://127.0.0.1:$CPORT/certs/$addr") <(curl -fsS "http://127.0.0.1:$BPORT/certs/$addr")
echo "bench: the servers serve the same DER for $addr; certgal headers:"
curl -fsSI "http://127.0.0.1:$CPORT/certs/$addr" | sed 's/^/    /'

export BENCH_N="$N"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
npid=$(cat "$tmp/nginx/nginx.pid")
declare -A urls=([certgal]="http://127.0.0.1:$CPORT" [nginx]="http://127.0.0.1:$NPORT" [go-bare]="http://127.0.0.1:$BPORT")
declare -A stats=([certgal]="http://127.0.0.1:$SPORT/stats")
declare -A spids=([certgal]="$certgal_pid" [nginx]="$npid $(cat "/proc/$npid/task/$npid/children")" [go-bare]="$bare_pid")
for i in "${!VARIANTS[@]}"; do
	v=${VARIANTS[$i]}
	urls[$v]="http://127.0.0.1:${vports[$((2 * i))]}"
	stats[$v]="http://127.0.0.1:${vports[$((2 * i + 1))]}/stats"
	spids[$v]=${vpids[$i]}
done
clk=$(getconf CLK_TCK)

cpu_ms() { # pid...: user + system CPU time of the processes so far, in ms
	local t=0 pid
	for pid in "$@"; do
		[ -r "/proc/$pid/stat" ] && t=$((t + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")))
	done
	echo $((t * 1000 / clk))
}
ctxsw() { # pid...: "voluntary involuntary" context switches of the processes' threads so far
	local pid
	for pid in "$@"; do cat "/proc/$pid/task/"*/status 2>/dev/null || true; done |
		awk '/^voluntary_ctxt_switches/ { v += $2 } /^nonvoluntary_ctxt_switches/ { n += $2 } END { print v + 0, n + 0 }'
}
runtime_stats() { # server: a Go server's runtime figures since the last call (certgal's only)
	if [ -n "${stats[$1]:-}" ]; then curl -fsS "${stats[$1]}"; fi
}
idle_ms() { # the machine's idle time so far, all cores, in ms
	awk -v clk="$clk" '$1 == "cpu" { print int(($5 + $6) * 1000 / clk); exit }' /proc/stat
}
run() { # server conns secs: one wrk run, one RESULT line with the CPU of server and wrk, the idle
	local t0 i0 line wcpu TIMEFORMAT='%U %S'
	runtime_stats "$1" >/dev/null
	t0=$(cpu_ms ${spids[$1]})
	i0=$(idle_ms)
	{ time wrk -t2 -c"$2" -d"$3"s --latency -s lookup/bench/bench.lua "${urls[$1]}" >"$tmp/wrk.out"; } 2>"$tmp/wrk.time"
	line=$(grep '^RESULT' "$tmp/wrk.out")
	wcpu=$(tail -n 1 "$tmp/wrk.time" | awk '{ printf "%.0f", ($1 + $2) * 1000 }')
	echo "$line server_cpu_ms=$(($(cpu_ms ${spids[$1]}) - t0)) wrk_cpu_ms=$wcpu idle_ms=$(($(idle_ms) - i0)) $(runtime_stats "$1")"
}
syscost=$("$tmp/bench" syscost)
echo "bench: system calls: $syscost"
echo "bench: warming up the servers"
for s in certgal nginx go-bare; do run "$s" 32 3 >/dev/null; done

# Phase 1, saturation. Rounds interleave the servers (in a rotating order) so that load from
# anything else on the machine falls on all of them alike; the tables show each server's
# median over the rounds.
servers=(certgal nginx go-bare)
results=()
for c in $CONNS; do
	for r in $(seq "$ROUNDS"); do
		for i in 0 1 2; do
			s=${servers[$(((i + r) % 3))]}
			line=$(run "$s" "$c" "$SECS")
			echo "bench: round $r, $s, $c connections: $line"
			results+=("$c $s $line")
		done
	done
done

median() { # key server field
	printf '%s\n' "${results[@]}" | awk -v c="$1" -v s="$2" -v f="$3" '$1 == c && $2 == s {
		for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' |
		sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
total() { # key server field
	printf '%s\n' "${results[@]}" | awk -v c="$1" -v s="$2" -v f="$3" '$1 == c && $2 == s {
		for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) t += kv[2] } } END { print t + 0 }'
}

# Phase 2, open loop: vegeta sends at a fixed rate whatever the answers take, over at most
# OPEN_CONNS keep-alive connections; a request that waits for a connection counts its wait.
nginx_max=0
for c in $CONNS; do nginx_max=$(awk -v a="$nginx_max" -v b="$(median "$c" nginx rps)" 'BEGIN { print (b > a) ? b : a }'); done
rate=${OPEN_RATE:-$(awk -v m="$nginx_max" -v p="$OPEN_PCT" 'BEGIN { printf "%d", m * p / 100 + 0.5 }')}
open_servers=(certgal nginx go-bare "${VARIANTS[@]}")
for s in "${open_servers[@]}"; do
	"$tmp/bench" targets -n "$N" -count "$OPEN_TARGETS" -base "${urls[$s]}" >"$tmp/targets-${urls[$s]##*:}"
done
open_run() { # server secs: one vegeta run, one RESULT line with the CPU of server and generator
	local t0 t1 st vcpu v0 n0 v1 n1 TIMEFORMAT='%U %S'
	runtime_stats "$1" >/dev/null
	t0=$(cpu_ms ${spids[$1]})
	read -r v0 n0 < <(ctxsw ${spids[$1]})
	{ time "$VEGETA" attack -targets "$tmp/targets-${urls[$1]##*:}" -rate "$rate/s" -duration "$2s" -max-connections "$OPEN_CONNS" \
		-keepalive=true -max-body 0 -output "$tmp/results.bin"; } 2>"$tmp/vegeta.time" ||
		{ cat "$tmp/vegeta.time" >&2; return 1; }
	t1=$(cpu_ms ${spids[$1]})
	read -r v1 n1 < <(ctxsw ${spids[$1]})
	st=$(runtime_stats "$1")
	vcpu=$(tail -n 1 "$tmp/vegeta.time" | awk '{ printf "%.0f", ($1 + $2) * 1000 }')
	echo "$("$VEGETA" encode --to json "$tmp/results.bin" | "$tmp/bench" summarize) server_cpu_ms=$((t1 - t0)) vegeta_cpu_ms=$vcpu vcsw=$((v1 - v0)) nvcsw=$((n1 - n0)) $st"
}
echo "bench: open loop at $rate req/s ($OPEN_PCT % of nginx's $nginx_max), $OPEN_CONNS connections at most; warming up"
for s in "${open_servers[@]}"; do open_run "$s" 2 >/dev/null; done
n=${#open_servers[@]}
for r in $(seq "$OPEN_ROUNDS"); do
	for i in $(seq 0 $((n - 1))); do
		s=${open_servers[$(((i + r) % n))]}
		line=$(open_run "$s" "$OPEN_SECS")
		echo "bench: open round $r, $s: $line"
		results+=("open $s $line")
	done
done

# The tables.
ms() { awk -v v="$1" 'BEGIN { printf "%.3f", v / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else printf "-" }'; }
echo
echo "GET /certs/{email}, $N random addresses, $(nproc) cores, load average before the runs: $load_before;"
echo "medians over the rounds"
echo
echo "Saturation: wrk -t2 (closed loop), $ROUNDS rounds of ${SECS}s per server and connection count"
printf '%-6s %-8s %10s %10s %10s %8s %12s %12s %7s\n' conns server "req/s" "p50 ms" "p99 ms" errors "CPU µs/req" "wrk µs/req" "idle %"
for c in $CONNS; do
	declare -A rps p50 p99
	for s in "${servers[@]}"; do
		rps[$s]=$(median "$c" "$s" rps)
		p50[$s]=$(median "$c" "$s" p50_us)
		p99[$s]=$(median "$c" "$s" p99_us)
		errs=$(($(total "$c" "$s" socket_errors) + $(total "$c" "$s" non_2xx)))
		awk -v c="$c" -v s="$s" -v r="${rps[$s]}" -v a="${p50[$s]}" -v b="${p99[$s]}" -v e="$errs" \
			-v cpu="$(total "$c" "$s" server_cpu_ms)" -v req="$(total "$c" "$s" requests)" \
			-v wcpu="$(total "$c" "$s" wrk_cpu_ms)" -v idle="$(total "$c" "$s" idle_ms)" -v secs="$((ROUNDS * SECS))" -v cores="$(nproc)" \
			'BEGIN { printf "%-6s %-8s %10d %10.3f %10.3f %8d %12.1f %12.1f %7.1f\n", c, s, r, a / 1000, b / 1000, e,
				cpu * 1000 / req, wcpu * 1000 / req, idle / (secs * cores * 10) }'
	done
	for ref in nginx go-bare; do
		name=c/nginx
		[ "$ref" = go-bare ] && name=c/bare
		printf '%-6s %-8s %10s %10s %10s\n' "$c" "$name" "$(ratio "${rps[certgal]}" "${rps[$ref]}")" \
			"$(ratio "${p50[certgal]}" "${p50[$ref]}")" "$(ratio "${p99[certgal]}" "${p99[$ref]}")"
	done
	unset rps p50 p99
done
echo "c/nginx = certgal / nginx; c/bare = certgal / a bare net/http handler serving a map (no rate limit,"
echo "ETag, metrics or timeouts). Above 1 is better for req/s, below 1 is better for latency. CPU: the"
echo "server's user + system time per request; wrk: the generator's, on the same cores; idle: the"
echo "machine's idle time during the runs, in % of all its cores (0 when the two share them all)."
awk -v l="$syscost" 'BEGIN { split(l, f, /[ =]/); printf "A system call costs %.1f µs here (getpid); reading a certificate, %.1f µs (a pread of 1,300 bytes from\n", f[3] / 1000, f[5] / 1000
	print "the page cache): certgal makes one per answer, its bytes kept out of its memory; go-bare none." }'
echo
echo "Open loop: vegeta attack -rate $rate/s -max-connections $OPEN_CONNS -keepalive, $OPEN_ROUNDS rounds of ${OPEN_SECS}s"
echo "per server, $OPEN_TARGETS targets drawn from the $N addresses; latency in ms"
printf '%-20s %7s %8s %8s %8s %8s %8s %8s %5s %6s %6s %6s %7s %7s\n' server "sent/s" p50 p90 p99 p99.9 max success 429 errors "srv %" "gen %" "vcs/req" "ics/req"
declare -A op99
for s in "${open_servers[@]}"; do
	op99[$s]=$(median open "$s" p99_us)
	printf '%-20s %7s %8s %8s %8s %8s %8s %8s %5s %6s %6s %6s %7s %7s\n' "$s" "$(median open "$s" rate)" \
		"$(ms "$(median open "$s" p50_us)")" "$(ms "$(median open "$s" p90_us)")" "$(ms "${op99[$s]}")" \
		"$(ms "$(median open "$s" p999_us)")" "$(ms "$(median open "$s" max_us)")" "$(median open "$s" success)" \
		"$(total open "$s" s429)" "$(($(total open "$s" errors) + $(total open "$s" other_status)))" \
		"$(awk -v v="$(median open "$s" server_cpu_ms)" -v d="$OPEN_SECS" 'BEGIN { printf "%.0f", v / d / 10 }')" \
		"$(awk -v v="$(median open "$s" vegeta_cpu_ms)" -v d="$OPEN_SECS" 'BEGIN { printf "%.0f", v / d / 10 }')" \
		"$(awk -v v="$(total open "$s" vcsw)" -v r="$(total open "$s" requests)" 'BEGIN { printf "%.2f", v / r }')" \
		"$(awk -v v="$(total open "$s" nvcsw)" -v r="$(total open "$s" requests)" 'BEGIN { printf "%.2f", v / r }')"
done
for s in "${open_servers[@]}"; do
	[ "$s" = nginx ] && continue
	printf '%-20s %s\n' "$s/nginx" "p99 $(ratio "${op99[$s]}" "${op99[nginx]}")"
done
echo "success = share of 200 answers; 429 = answers 'too many requests' (certgal's rate limit must not"
echo "show); srv % and gen % = CPU of the server and of vegeta, in % of one core ($(nproc) cores in all);"
echo "vcs/req and ics/req: the server's threads' voluntary (blocked, woken) and involuntary (preempted)"
echo "context switches per request."
echo
echo "Go runtime during each run (bench serve -stats), medians over the rounds:"
printf '%-20s %-6s %6s %9s %10s %10s %10s %10s %10s %10s\n' server phase "GCs" "GC CPU ms" "alloc MiB" "live MiB" "goal MiB" "STW max µs" "wait p99µs" "wait p99.9"
for s in "${open_servers[@]}"; do
	[ -n "${stats[$s]:-}" ] || continue
	for c in $CONNS open; do
		[ "$c" = open ] || [ "$s" = certgal ] || continue
		printf '%-20s %-6s %6s %9s %10s %10s %10s %10s %10s %10s\n' "$s" "$c" "$(median "$c" "$s" gc)" "$(median "$c" "$s" gc_cpu_ms)" \
			"$(median "$c" "$s" alloc_mib)" "$(median "$c" "$s" heap_live_mib)" "$(median "$c" "$s" heap_goal_mib)" \
			"$(median "$c" "$s" stw_max_us)" "$(median "$c" "$s" sched_p99_us)" "$(median "$c" "$s" sched_p999_us)"
	done
done
echo "phase: wrk's connection count, or open; wait: how long runnable goroutines waited for a thread"
echo "(Go's /sched/latencies, upper bounds of its buckets); STW: the collector's stop-the-world pauses."
echo "certgal's memory now: $(grep -E '^Vm(HWM|RSS)' "/proc/$certgal_pid/status" | tr -s ' \t' ' ' | paste -sd ',')"
for i in "${!VARIANTS[@]}"; do
	echo "variant ${VARIANTS[$i]}: $(grep -c '^gc ' "$tmp/variant$i.log" || true) gctrace lines; memory: $(grep -E '^Vm(HWM|RSS)' "/proc/${vpids[$i]}/status" | tr -s ' \t' ' ' | paste -sd ',')"
done
echo
csat=${CONNS##* }
echo "goals: req/s at saturation ($csat connections) certgal/nginx $(ratio "$(median "$csat" certgal rps)" "$(median "$csat" nginx rps)") (>= 1.0);" \
	"open-loop p99 certgal/nginx $(ratio "${op99[certgal]}" "${op99[nginx]}") (<= 1.5)"
