#!/usr/bin/env bash
# `make bench-lookup`: requests/s and p50/p99 latency of certgal's GET /certs/{email} against
# nginx serving the same DER files from disk, measured in the same run with wrk at 4 and 32
# connections over BENCH_N random addresses (and, as a reference, a bare net/http handler
# serving the same bytes from a map). certgal runs with rate limiting and ETags on; its
# rate is raised so that the one benchmark client is not answered 429.
#
# Everything is private: a temporary directory, nginx with its own configuration and pid file,
# both servers on 127.0.0.1 only, and both stopped by PID at the end.
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
for port in "$CPORT" "$NPORT" "$BPORT"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "bench: port $port is in use; set BENCH_CERTGAL_PORT, BENCH_NGINX_PORT, BENCH_BARE_PORT" >&2
		exit 1
	fi
done

tmp=$(mktemp -d /tmp/certgal-bench.XXXXXX)
chmod 755 "$tmp" # nginx's workers run as nobody
certgal_pid=""
bare_pid=""
cleanup() {
	for pid in $certgal_pid $bare_pid; do
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

$GO build -o "$tmp/bench" ./lookup/bench
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

"$tmp/bench" serve -dir "$tmp/data" -listen "127.0.0.1:$CPORT" -rate 1e9 -burst 1000000000 &
certgal_pid=$!
"$tmp/bench" bare -dir "$tmp/data" -listen "127.0.0.1:$BPORT" &
bare_pid=$!

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

# Both serve the same bytes, for an address picked at random.
addr=$(printf 'user%06d@bench.example' $(( (RANDOM * 32768 + RANDOM) % N + 1 )))
cmp <(curl -fsS "http://127.0.0.1:$CPORT/certs/$addr") <(curl -fsS "http://127.0.0.1:$NPORT/certs/$addr")
cmp <(curl -fsS "http://127.0.0.1:$CPORT/certs/$addr") <(curl -fsS "http://127.0.0.1:$BPORT/certs/$addr")
echo "bench: the servers serve the same DER for $addr; certgal headers:"
curl -fsSI "http://127.0.0.1:$CPORT/certs/$addr" | sed 's/^/    /'

export BENCH_N="$N"
run() { # server url conns secs
	wrk -t2 -c"$3" -d"$4"s --latency -s lookup/bench/bench.lua "$2" | grep '^RESULT'
}
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A urls=([certgal]="http://127.0.0.1:$CPORT" [nginx]="http://127.0.0.1:$NPORT" [go-bare]="http://127.0.0.1:$BPORT")
echo "bench: warming up the servers"
for s in certgal nginx go-bare; do run "$s" "${urls[$s]}" 32 3 >/dev/null; done

# Rounds interleave the servers (in a rotating order) so that load from anything else on the
# machine falls on all of them alike; the table shows each server's median over the rounds.
servers=(certgal nginx go-bare)
results=()
for c in $CONNS; do
	for r in $(seq "$ROUNDS"); do
		for i in 0 1 2; do
			s=${servers[$(((i + r) % 3))]}
			line=$(run "$s" "${urls[$s]}" "$c" "$SECS")
			echo "bench: round $r, $s, $c connections: $line"
			results+=("$c $s $line")
		done
	done
done

median() { # conns server field
	printf '%s\n' "${results[@]}" | awk -v c="$1" -v s="$2" -v f="$3" '$1 == c && $2 == s {
		for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' |
		sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
total() { # conns server field
	printf '%s\n' "${results[@]}" | awk -v c="$1" -v s="$2" -v f="$3" '$1 == c && $2 == s {
		for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) t += kv[2] } } END { print t + 0 }'
}

echo
echo "GET /certs/{email}, $N random addresses, wrk -t2, $ROUNDS rounds of ${SECS}s per server and connection count,"
echo "$(nproc) cores, load average before the runs: $load_before; medians over the rounds"
printf '%-6s %-8s %10s %10s %10s %8s\n' conns server "req/s" "p50 ms" "p99 ms" errors
for c in $CONNS; do
	declare -A rps p50 p99
	for s in "${servers[@]}"; do
		rps[$s]=$(median "$c" "$s" rps)
		p50[$s]=$(median "$c" "$s" p50_us)
		p99[$s]=$(median "$c" "$s" p99_us)
		errs=$(($(total "$c" "$s" socket_errors) + $(total "$c" "$s" non_2xx)))
		awk -v c="$c" -v s="$s" -v r="${rps[$s]}" -v a="${p50[$s]}" -v b="${p99[$s]}" -v e="$errs" \
			'BEGIN { printf "%-6s %-8s %10d %10.3f %10.3f %8d\n", c, s, r, a / 1000, b / 1000, e }'
	done
	for ref in nginx go-bare; do
		name=c/nginx
		[ "$ref" = go-bare ] && name=c/bare
		awk -v c="$c" -v n="$name" -v r1="${rps[certgal]}" -v r2="${rps[$ref]}" -v a1="${p50[certgal]}" -v a2="${p50[$ref]}" \
			-v b1="${p99[certgal]}" -v b2="${p99[$ref]}" \
			'BEGIN { printf "%-6s %-8s %9.2fx %9.2fx %9.2fx\n", c, n, r1 / r2, a1 / a2, b1 / b2 }'
	done
	unset rps p50 p99
done
echo "c/nginx = certgal / nginx; c/bare = certgal / a bare net/http handler serving a map (no rate limit,"
echo "ETag, metrics or timeouts). Above 1 is better for req/s, below 1 is better for latency."
