#!/usr/bin/env bash
# Issue and revoke S/MIME certificates through the step-ca that start.sh runs in DIR, with the
# step CLI and step-ca's API, as an operator would.
#
# Usage:
#   testdata/stepca/ca.sh issue DIR EMAIL     prints the decimal serial; the certificate is
#                                             DIR/issued/SERIAL.crt (its key DIR/keys/SERIAL.key)
#   testdata/stepca/ca.sh revoke DIR SERIAL [REASON_CODE]   revoke by decimal serial (default 1,
#                                             keyCompromise); step-ca regenerates its CRL
set -euo pipefail

die() { echo "stepca/ca.sh: $*" >&2; exit 1; }
[[ $# -ge 3 ]] || { echo "usage: $0 issue DIR EMAIL | revoke DIR SERIAL [REASON_CODE]" >&2; exit 2; }
cmd="$1"
DIR="$(cd "$2" && pwd -P)"
[[ -s "$DIR/env" ]] || die "$DIR/env is missing: run start.sh first"
# shellcheck disable=SC1091
source "$DIR/env"
export STEPPATH
step=("$STEPCA_BIN/step")
common=(--ca-url "$STEPCA_URL" --root "$STEPCA_ROOT")
prov=(--provisioner "$STEPCA_PROVISIONER" --provisioner-password-file "$STEPCA_PROVISIONER_PASSWORD_FILE")

case "$cmd" in
issue)
	email="$3"
	mkdir -p "$DIR/issued" "$DIR/keys"
	tmp="$(mktemp -d "$DIR/keys/.new.XXXXXX")"
	trap 'rm -rf "$tmp"' EXIT
	# RSA: the default EC key would need keyAgreement, which the template does not grant.
	out="$("${step[@]}" ca certificate "$email" "$tmp/crt" "$tmp/key" --san "$email" --kty RSA --size 2048 \
		--force "${common[@]}" "${prov[@]}" 2>&1)" || { echo "$out" >&2; die "issue $email failed"; }
	serial="$("${step[@]}" certificate inspect "$tmp/crt" --format json | jq -r .serial_number)"
	[[ "$serial" =~ ^[0-9]+$ ]] || die "no serial in the issued certificate"
	# step writes the leaf followed by the intermediate: keep the leaf.
	awk '{print} /-----END CERTIFICATE-----/ {exit}' "$tmp/crt" >"$DIR/issued/$serial.crt"
	mv "$tmp/key" "$DIR/keys/$serial.key"
	echo "$serial"
	;;
revoke)
	serial="$3"
	code="${4:-1}"
	[[ "$serial" =~ ^[0-9]+$ ]] || die "SERIAL must be decimal: $serial"
	token="$("${step[@]}" ca token "$serial" --revoke "${common[@]}" "${prov[@]}" 2>/dev/null)" ||
		die "step ca token --revoke $serial failed"
	out="$("${step[@]}" ca revoke "$serial" --token "$token" --reasonCode "$code" "${common[@]}" 2>&1)" ||
		{ echo "$out" >&2; die "revoke $serial failed"; }
	;;
*) die "unknown command $cmd" ;;
esac
