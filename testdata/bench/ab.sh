#!/usr/bin/env bash
# Benchmark, not a test: two certgal binaries, A and B, run in turn against one world, so that a
# change's cost is measured beside its baseline on the same machine in the same minutes (this
# machine's speed drifts too much between two `make bench` runs to compare their medians). The
# world is certgal-gen's converged state in a private slapd, stopped by its PID. Each round
# prints, for A and B: `certgal sync -dry-run` with the file caches of an earlier run (in the
# order A B B A), then with none; and an ldapsearch of the same attributes, as a gauge of the
# machine. Columns: seconds and peak RSS in KB (GNU time).
#
# Usage: testdata/bench/ab.sh A_BINARY B_BINARY [N_USERS] [ROUNDS]   (default 100000 users, 4 rounds)
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
A=$(readlink -f "${1:?usage: ab.sh A_BINARY B_BINARY [N_USERS] [ROUNDS]}")
B=$(readlink -f "${2:?usage: ab.sh A_BINARY B_BINARY [N_USERS] [ROUNDS]}")
n=${3:-100000} rounds=${4:-4}
GO=${GO:-go}
cd "$(dirname "$0")/../.."
testdata/install-deps.sh
tmp=$(mktemp -d /tmp/certgal-ab.XXXXXX)
trap 'testdata/slapd/stop.sh "$tmp/slapd" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT

$GO build -o "$tmp/certgal-gen" ./cmd/certgal-gen
"$tmp/certgal-gen" -n "$n" -out "$tmp/world" -published current >/dev/null
PRELOAD_LDIF="$tmp/world/users-current.ldif" testdata/slapd/start.sh "$tmp/slapd" >/dev/null
# shellcheck disable=SC1091
. "$tmp/slapd/env"
printf '%s' "$LDAP_ROOTPW" >"$tmp/bind-password"
sed -e "s#^  url: .*#  url: $LDAP_URL#" -e "s#^  bind_dn: .*#  bind_dn: $LDAP_ROOTDN#" \
	-e "s#^  bind_password_file: .*#  bind_password_file: $tmp/bind-password#" "$tmp/world/certgal.yaml" >"$tmp/certgal.yaml"

# run BINARY CACHE_DIR: one dry-run pass; prints "seconds peak-RSS-KB".
run() {
	CERTGAL_CACHE_DIR=$2 /usr/bin/time -f '%e %M' "$1" sync -config "$tmp/certgal.yaml" -dry-run >/dev/null 2>"$tmp/err" ||
		{ cat "$tmp/err" >&2; exit 1; }
	tail -1 "$tmp/err"
}
run "$A" "$tmp/cache-A" >/dev/null
run "$B" "$tmp/cache-B" >/dev/null
for _ in $(seq "$rounds"); do
	for v in A B B A; do echo "cached   $v $(run "${!v}" "$tmp/cache-$v")"; done
	for v in A B; do
		rm -rf "$tmp/none"
		echo "no-cache $v $(run "${!v}" "$tmp/none")"
	done
	/usr/bin/time -f '%e' -o "$tmp/t" ldapsearch -x -LLL -o ldif-wrap=no -H "$LDAP_URL" -D "$LDAP_ROOTDN" -w "$LDAP_ROOTPW" \
		-b "$LDAP_SUFFIX" -E pr=1000/noprompt '(objectClass=inetOrgPerson)' 'userCertificate;binary' mail >/dev/null
	echo "ldapsearch $(cat "$tmp/t")"
done
