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
SECS=${BENCH_SECONDS:-15}
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
declare -A urls=([certgal]="http://127.0.0.1:$CPORT" [nginx]="http://127.0.0.1:$NPORT" [go-bare]="http://127.0.0.1:$BPORT")
echo "bench: warming up the servers"
for s in certgal nginx go-bare; do run "$s" "${urls[$s]}" 32 3 >/dev/null; done

results=()
for c in $CONNS; do
	for s in certgal nginx go-bare; do
		line=$(run "$s" "${urls[$s]}" "$c" "$SECS")
		echo "bench: $s, $c connections: $line"
		results+=("$c $s $line")
	done
done

echo
echo "GET /certs/{email}, $N random addresses, wrk -t2, ${SECS}s per run, $(nproc) cores, same run"
printf '%s\n' "${results[@]}" | awk '
function field(name,   i, kv) { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] } return "" }
{
	c = $1; s = $2
	rps[c, s] = field("rps"); p50[c, s] = field("p50_us"); p99[c, s] = field("p99_us")
	bad[c, s] = field("socket_errors") + field("non_2xx")
	if (!(c in seen)) { seen[c] = 1; order[++n] = c }
}
END {
	printf "%-6s %-8s %10s %10s %10s %8s\n", "conns", "server", "req/s", "p50 ms", "p99 ms", "errors"
	for (i = 1; i <= n; i++) {
		c = order[i]
		split("certgal nginx go-bare", ss, " ")
		for (j = 1; j <= 3; j++) { s = ss[j]
			printf "%-6s %-8s %10d %10.3f %10.3f %8d\n", c, s, rps[c, s], p50[c, s] / 1000, p99[c, s] / 1000, bad[c, s] }
		printf "%-6s %-8s %9.2fx %9.2fx %9.2fx\n", c, "c/nginx", rps[c, "certgal"] / rps[c, "nginx"], p50[c, "certgal"] / p50[c, "nginx"], p99[c, "certgal"] / p99[c, "nginx"]
		printf "%-6s %-8s %9.2fx %9.2fx %9.2fx\n", c, "c/bare", rps[c, "certgal"] / rps[c, "go-bare"], p50[c, "certgal"] / p50[c, "go-bare"], p99[c, "certgal"] / p99[c, "go-bare"]
	}
	print "c/nginx = certgal / nginx, c/bare = certgal / a bare net/http handler serving a map (no rate limit, ETag, metrics or timeouts)"
	print "above 1 is better for req/s, below 1 is better for latency"
}'
