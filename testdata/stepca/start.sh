#!/usr/bin/env bash
# Start a private Smallstep step-ca for tests, on loopback only, keeping its database in
# PostgreSQL (the way certgal's stepca source reads it). Everything lives in DIR.
#
# Usage: STEPCA_DB_DSN=postgres://... testdata/stepca/start.sh DIR
#
# Environment:
#   STEPCA_DB_DSN       required: DSN of a PostgreSQL role that owns the step-ca database
#                       (testdata/postgres/createdb.sh DIR stepca makes one)
#   STEPCA_DB_NAME      the database name (default stepca)
#   STEPCA_OWNER_PID    if set, a watchdog stops step-ca when that process exits
#   CERTGAL_TOOLS, STEPCA_VERSION   see build.sh
#
# The CA is initialised with `step ca init` (root + intermediate; the intermediate issues), a JWK
# provisioner whose X.509 template issues S/MIME certificates (digitalSignature, keyEncipherment,
# emailProtection), the CRL enabled and regenerated on every revocation, and the CRL also served
# over plain HTTP on a second loopback port (insecureAddress). Issue and revoke with ca.sh.
#
# On success it writes DIR/env (shell-sourceable) and prints it. Stop with stop.sh DIR.
# Exit codes: 0 started; 1 failed; 3 a prerequisite is missing and cannot be had (callers may skip).
set -euo pipefail

die() { echo "stepca/start.sh: $*" >&2; exit 1; }
unavailable() { echo "stepca/start.sh: $*" >&2; exit 3; }

[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
[[ -n "${STEPCA_DB_DSN:-}" ]] || die "STEPCA_DB_DSN is required"
HERE="$(cd "$(dirname "$0")" && pwd -P)"

if ! command -v jq >/dev/null 2>&1; then
	[[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1 || unavailable "jq is missing (Debian package jq)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q jq >&2 || { apt-get update -q >&2 && apt-get install -y -q jq >&2; } ||
		unavailable "apt-get install jq failed"
fi

set +e
BIN="$("$HERE/build.sh")"
rc=$?
set -e
case $rc in 0) ;; 3) unavailable "cannot build step-ca" ;; *) die "building step-ca failed" ;; esac

mkdir -p "$1"
DIR="$(cd "$1" && pwd -P)"
export STEPPATH="$DIR/step"
[[ ! -e "$STEPPATH" ]] || die "$STEPPATH exists: one CA per DIR"

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		[[ "$p" != "${1:-}" ]] || continue
		port_busy "$p" || { echo "$p"; return 0; }
	done
	die "no free loopback port found in 20000-31999"
}

# shellcheck source=../lib/proc.sh
. "$(dirname "$0")/../lib/proc.sh"
is_our_stepca() { proc_is "$1" step-ca "$STEPPATH/config/ca.json"; }

# --- initialise ----------------------------------------------------------------------------------

umask 077
head -c 24 /dev/urandom | base64 >"$DIR/ca-password"
head -c 24 /dev/urandom | base64 >"$DIR/provisioner-password"
PROVISIONER=certgal-test
PORT="$(pick_port)"
if ! out="$("$BIN/step" ca init --deployment-type standalone --name "certgal test step CA" \
	--dns 127.0.0.1 --address "127.0.0.1:$PORT" --provisioner "$PROVISIONER" \
	--password-file "$DIR/ca-password" --provisioner-password-file "$DIR/provisioner-password" 2>&1)"; then
	echo "$out" >&2
	die "step ca init failed"
fi
cp "$HERE/smime.tpl" "$STEPPATH/templates-smime.tpl"

# --- start ---------------------------------------------------------------------------------------

started=""
for attempt in 1 2 3; do
	[[ $attempt -eq 1 ]] || PORT="$(pick_port)"
	HTTP_PORT="$(pick_port "$PORT")"
	jq --arg dsn "$STEPCA_DB_DSN" --arg db "${STEPCA_DB_NAME:-stepca}" \
		--arg addr "127.0.0.1:$PORT" --arg insecure "127.0.0.1:$HTTP_PORT" \
		--arg tpl "$STEPPATH/templates-smime.tpl" '
		.address = $addr
		| .insecureAddress = $insecure
		| .db = {type: "postgresql", dataSource: $dsn, database: $db}
		| .crl = {enabled: true, generateOnRevoke: true, cacheDuration: "24h"}
		| .authority.provisioners[0].options.x509.templateFile = $tpl
		' "$STEPPATH/config/ca.json" >"$STEPPATH/config/ca.json.new"
	mv "$STEPPATH/config/ca.json.new" "$STEPPATH/config/ca.json"
	jq --arg url "https://127.0.0.1:$PORT" '."ca-url" = $url' "$STEPPATH/config/defaults.json" >"$STEPPATH/config/defaults.json.new"
	mv "$STEPPATH/config/defaults.json.new" "$STEPPATH/config/defaults.json"

	: >"$DIR/step-ca.log"
	"$BIN/step-ca" "$STEPPATH/config/ca.json" --password-file "$DIR/ca-password" \
		</dev/null >>"$DIR/step-ca.log" 2>&1 &
	PID=$!
	echo "$PID" >"$DIR/step-ca.pid"
	deadline=$((SECONDS + 30))
	while ((SECONDS < deadline)); do
		kill -0 "$PID" 2>/dev/null || break
		if "$BIN/step" ca health --ca-url "https://127.0.0.1:$PORT" --root "$STEPPATH/certs/root_ca.crt" >/dev/null 2>&1; then
			started=yes
			break
		fi
		sleep 0.1
	done
	[[ -z "$started" ]] || break
	if kill -0 "$PID" 2>/dev/null; then
		kill -TERM "$PID" 2>/dev/null || true
		cat "$DIR/step-ca.log" >&2
		die "step-ca (PID $PID) did not answer on 127.0.0.1:$PORT within 30 s (log above)"
	fi
	wait "$PID" 2>/dev/null || true
	rm -f "$DIR/step-ca.pid"
	if grep -q 'address already in use' "$DIR/step-ca.log" && [[ $attempt -lt 3 ]]; then
		continue
	fi
	cat "$DIR/step-ca.log" >&2
	die "step-ca exited during startup (log above)"
done
[[ -n "$started" ]] || die "step-ca did not start"

if [[ -n "${STEPCA_OWNER_PID:-}" ]]; then
	proc_watchdog "$STEPCA_OWNER_PID" "$PID" step-ca "$STEPPATH/config/ca.json" TERM
fi

{
	echo "STEPCA_URL=$(q "https://127.0.0.1:$PORT")"
	echo "STEPCA_CRL_URL=$(q "http://127.0.0.1:$HTTP_PORT/crl")"
	echo "STEPCA_CRL_HTTPS_URL=$(q "https://127.0.0.1:$PORT/crl")"
	echo "STEPCA_ROOT=$(q "$STEPPATH/certs/root_ca.crt")"
	echo "STEPCA_ISSUER=$(q "$STEPPATH/certs/intermediate_ca.crt")"
	echo "STEPCA_PROVISIONER=$(q "$PROVISIONER")"
	echo "STEPCA_PROVISIONER_PASSWORD_FILE=$(q "$DIR/provisioner-password")"
	echo "STEPCA_BIN=$(q "$BIN")"
	echo "STEPPATH=$(q "$STEPPATH")"
	echo "STEPCA_PID=$(q "$PID")"
} >"$DIR/env"
cat "$DIR/env"
