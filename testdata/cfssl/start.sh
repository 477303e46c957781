#!/usr/bin/env bash
# Start a private CFSSL CA (`cfssl serve`) for tests, on loopback only, with its certdb in
# PostgreSQL (the way certgal's cfssl source reads it). Everything lives in DIR.
#
# Usage: CFSSL_DB_DSN=postgres://... testdata/cfssl/start.sh DIR
#
# Environment:
#   CFSSL_DB_DSN       required: DSN of a PostgreSQL role that owns an empty database
#                      (testdata/postgres/createdb.sh DIR cfssl makes one); the certdb schema is
#                      created from the Up sections of cfssl's own goose migrations
#   CFSSL_OWNER_PID    if set, a watchdog stops cfssl when that process exits
#   CERTGAL_TOOLS, CFSSL_VERSION   see build.sh
#
# The CA (DIR/ca.pem, a self-signed root made by `cfssl gencert -initca`) signs with a profile for
# S/MIME: digital signature, key encipherment, email protection. Issue and revoke with ca.sh.
#
# On success it writes DIR/env (shell-sourceable) and prints it. Stop with stop.sh DIR.
# Exit codes: 0 started; 1 failed; 3 a prerequisite is missing and cannot be had (callers may skip).
set -euo pipefail

die() { echo "cfssl/start.sh: $*" >&2; exit 1; }
unavailable() { echo "cfssl/start.sh: $*" >&2; exit 3; }

[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
[[ -n "${CFSSL_DB_DSN:-}" ]] || die "CFSSL_DB_DSN is required"
HERE="$(cd "$(dirname "$0")" && pwd -P)"

need=()
command -v jq >/dev/null 2>&1 || need+=(jq)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
if ((${#need[@]})); then
	[[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1 || unavailable "missing Debian packages: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q "${need[@]}" >&2 || { apt-get update -q >&2 && apt-get install -y -q "${need[@]}" >&2; } ||
		unavailable "apt-get install ${need[*]} failed"
fi

set +e
BIN="$("$HERE/build.sh")"
rc=$?
set -e
case $rc in 0) ;; 3) unavailable "cannot build cfssl" ;; *) die "building cfssl failed" ;; esac

mkdir -p "$1"
DIR="$(cd "$1" && pwd -P)"
[[ ! -e "$DIR/ca.pem" ]] || die "$DIR/ca.pem exists: one CA per DIR"

# shellcheck source=../lib/proc.sh
. "$(dirname "$0")/../lib/proc.sh"
is_our_cfssl() { proc_is "$1" cfssl "$DIR/db.json"; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		port_busy "$p" || { echo "$p"; return 0; }
	done
	die "no free loopback port found in 20000-31999"
}

# --- certdb schema: the Up sections of cfssl's goose migrations, in order ------------------------

for m in "$BIN"/migrations/pg/*.sql; do
	awk '/^-- \+goose Up/ {up = 1; next} /^-- \+goose Down/ {up = 0} up' "$m" |
		psql -X -q -v ON_ERROR_STOP=1 "$CFSSL_DB_DSN" >/dev/null ||
		die "applying the Up section of $m failed"
done

# --- CA and configuration ------------------------------------------------------------------------

umask 077
cd "$DIR"
cat >ca-csr.json <<'EOF'
{"CN": "certgal test CFSSL CA", "key": {"algo": "ecdsa", "size": 256}, "names": [{"O": "certgal test"}]}
EOF
"$BIN/cfssl" gencert -initca ca-csr.json 2>/dev/null | "$BIN/cfssljson" -bare ca ||
	die "cfssl gencert -initca failed"
chmod 0644 ca.pem
cat >config.json <<'EOF'
{
  "signing": {
    "default": {
      "expiry": "8760h",
      "usages": ["digital signature", "key encipherment", "email protection"]
    }
  }
}
EOF
jq -n --arg dsn "$CFSSL_DB_DSN" '{driver: "postgres", data_source: $dsn}' >db.json

# --- start ---------------------------------------------------------------------------------------

started=""
for attempt in 1 2 3; do
	PORT="$(pick_port)"
	: >cfssl.log
	"$BIN/cfssl" serve -address 127.0.0.1 -port "$PORT" -ca "$DIR/ca.pem" -ca-key "$DIR/ca-key.pem" \
		-config "$DIR/config.json" -db-config "$DIR/db.json" </dev/null >>cfssl.log 2>&1 &
	PID=$!
	echo "$PID" >cfssl.pid
	deadline=$((SECONDS + 30))
	while ((SECONDS < deadline)); do
		kill -0 "$PID" 2>/dev/null || break
		if curl -sf -o /dev/null -d '{}' "http://127.0.0.1:$PORT/api/v1/cfssl/info"; then
			started=yes
			break
		fi
		sleep 0.1
	done
	[[ -z "$started" ]] || break
	if kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		cat cfssl.log >&2
		die "cfssl (PID $PID) did not answer on 127.0.0.1:$PORT within 30 s (log above)"
	fi
	wait "$PID" 2>/dev/null || true
	rm -f cfssl.pid
	if grep -q 'address already in use' cfssl.log && [[ $attempt -lt 3 ]]; then
		continue
	fi
	cat cfssl.log >&2
	die "cfssl serve exited during startup (log above)"
done
[[ -n "$started" ]] || die "cfssl serve did not start"

if [[ -n "${CFSSL_OWNER_PID:-}" ]]; then
	proc_watchdog "$CFSSL_OWNER_PID" "$PID" cfssl "$DIR/db.json" TERM
fi

{
	echo "CFSSL_URL=$(q "http://127.0.0.1:$PORT")"
	echo "CFSSL_CA=$(q "$DIR/ca.pem")"
	echo "CFSSL_BIN=$(q "$BIN")"
	echo "CFSSL_PID=$(q "$PID")"
} >"$DIR/env"
cat "$DIR/env"
