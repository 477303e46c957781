#!/usr/bin/env bash
# Issue and revoke S/MIME certificates through the `cfssl serve` that start.sh runs in DIR, with
# its HTTP API, as a client of the CA would.
#
# Usage:
#   testdata/cfssl/ca.sh issue DIR EMAIL      POST /api/v1/cfssl/newcert; prints the decimal
#                                             serial; the certificate is DIR/issued/SERIAL.pem
#   testdata/cfssl/ca.sh revoke DIR SERIAL [REASON]   POST /api/v1/cfssl/revoke by decimal serial
#                                             (default keyCompromise)
set -euo pipefail

die() { echo "cfssl/ca.sh: $*" >&2; exit 1; }
[[ $# -ge 3 ]] || { echo "usage: $0 issue DIR EMAIL | revoke DIR SERIAL [REASON]" >&2; exit 2; }
cmd="$1"
DIR="$(cd "$2" && pwd -P)"
[[ -s "$DIR/env" ]] || die "$DIR/env is missing: run start.sh first"
# shellcheck disable=SC1091
source "$DIR/env"

api() {
	local out
	out="$(curl -sS --max-time 30 -H 'Content-Type: application/json' -d "$2" "$CFSSL_URL/api/v1/cfssl/$1")" ||
		die "POST $1 failed"
	[[ "$(jq -r .success <<<"$out")" == true ]] || die "POST $1: $(jq -c .errors <<<"$out")"
	printf '%s' "$out"
}

case "$cmd" in
issue)
	email="$3"
	mkdir -p "$DIR/issued"
	req="$(jq -n --arg e "$email" '{request: {CN: ($e | split("@")[0]), hosts: [$e], key: {algo: "rsa", size: 2048}}}')"
	out="$(api newcert "$req")"
	pem="$(jq -r .result.certificate <<<"$out")"
	info="$("$CFSSL_BIN/cfssl" certinfo -cert - <<<"$pem")"
	serial="$(jq -r .serial_number <<<"$info")"
	[[ "$serial" =~ ^[0-9]+$ ]] || die "no serial in the issued certificate"
	printf '%s\n' "$pem" >"$DIR/issued/$serial.pem"
	jq -r .authority_key_id <<<"$info" | tr -d ':' | tr 'A-F' 'a-f' >"$DIR/issued/$serial.aki"
	echo "$serial"
	;;
revoke)
	serial="$3"
	[[ "$serial" =~ ^[0-9]+$ ]] || die "SERIAL must be decimal: $serial"
	[[ -s "$DIR/issued/$serial.aki" ]] || die "no certificate $serial issued through ca.sh"
	req="$(jq -n --arg s "$serial" --arg aki "$(cat "$DIR/issued/$serial.aki")" --arg r "${4:-keyCompromise}" \
		'{serial: $s, authority_key_id: $aki, reason: $r}')"
	api revoke "$req" >/dev/null
	;;
*) die "unknown command $cmd" ;;
esac
