#!/usr/bin/env bash
# make demo: a throwaway OpenLDAP and a throwaway OpenSSL CA, certgal run against them, and what
# it published. Everything lives in a temp dir and the slapd it starts is stopped by its PID.
#
# Usage: testdata/demo/demo.sh PATH/TO/certgal
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
certgal="$(readlink -f "${1:?usage: demo.sh PATH/TO/certgal}")"
here="$(cd "$(dirname "$0")/.." && pwd)"
"$here/install-deps.sh"

work="$(mktemp -d /tmp/certgal-demo.XXXXXX)"
# certgal's file caches (README, "The classification cache") go with the rest of the demo.
export CERTGAL_CACHE_DIR="$work/cache"
daemon=
cleanup() {
	[ -z "$daemon" ] || kill -TERM "$daemon" 2>/dev/null || true
	"$here/slapd/stop.sh" "$work/slapd" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
	shuf -i 20000-32000 -n 1; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
ca() { KEYDIR="$work/keys" "$here/ca/openssl-ca.sh" "$@"; }

step "Starting a private slapd on 127.0.0.1 (in $work/slapd)"
"$here/slapd/start.sh" "$work/slapd" >/dev/null
# shellcheck disable=SC1091
source "$work/slapd/env"
echo "slapd PID $SLAPD_PID, $LDAPS_URL"
ldap() { LDAPTLS_CACERT="$LDAP_CA_FILE" "$@" -H "$LDAPS_URL" -x -D "$LDAP_ROOTDN" -w "$LDAP_ROOTPW"; }

step "Adding three users"
ldap ldapadd >/dev/null <<LDIF
dn: uid=alice,ou=people,$LDAP_SUFFIX
objectClass: inetOrgPerson
uid: alice
cn: Alice Example
sn: Example
mail: alice@corp.example

dn: uid=bob,ou=people,$LDAP_SUFFIX
objectClass: inetOrgPerson
uid: bob
cn: Bob Example
sn: Example
mail: Bob@Corp.Example

dn: uid=carol,ou=people,$LDAP_SUFFIX
objectClass: inetOrgPerson
uid: carol
cn: Carol Example
sn: Example
mail: carol@corp.example
LDIF
echo "alice@corp.example, Bob@Corp.Example, carol@corp.example"

step "A throwaway OpenSSL CA issues S/MIME certificates (openssl ca)"
ca init "$work/ca" "Demo S/MIME CA" >/dev/null
day() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
alice=$(ca issue "$work/ca" alice@corp.example)
bob_old=$(ca issue "$work/ca" bob@corp.example --start "$(day '-30 days')" --end "$(day '+335 days')")
bob_new=$(ca issue "$work/ca" bob@corp.example --key rsa)
carol=$(ca issue "$work/ca" carol@corp.example)
ca revoke "$work/ca" "$carol" keyCompromise >/dev/null
echo "alice: serial $alice; bob: $bob_old renewed as $bob_new; carol: $carol (revoked: lost laptop)"
cat "$work/ca/index.txt"

printf '%s\n' "$LDAP_ROOTPW" >"$work/bind-password"
chmod 600 "$work/bind-password"
cat >"$work/certgal.yaml" <<YAML
source:
  kind: openssl
  openssl:
    dir: $work/ca
    crl_files: [crl.pem]
trust:
  ca_files: [$work/ca/ca.pem]
directory:
  url: $LDAPS_URL
  ca_file: $LDAP_CA_FILE
  bind_dn: $LDAP_ROOTDN
  bind_password_file: $work/bind-password
  base_dn: $LDAP_SUFFIX
lookup:
  listen: ""  # lookup
metrics:
  listen: ""
log:
  level: warning
YAML
ca crl "$work/ca" "$work/ca/crl.pem" >/dev/null

step "certgal check-config (secrets hidden)"
"$certgal" check-config -config "$work/certgal.yaml" | sed -n '1,40p'

step "certgal sync -dry-run: the plan, nothing written"
"$certgal" sync -config "$work/certgal.yaml" -dry-run

step "certgal sync: apply it"
"$certgal" sync -config "$work/certgal.yaml"

show() {
	step "$1"
	ldap ldapsearch -LLL -o ldif-wrap=no -b "ou=people,$LDAP_SUFFIX" '(objectClass=inetOrgPerson)' mail 'userCertificate;binary' |
		while IFS= read -r line; do
			case "$line" in
			"userCertificate;binary:: "*)
				printf '%s' "${line#*:: }" | base64 -d | openssl x509 -inform DER -noout -serial -subject -ext subjectAltName -enddate |
					tr '\n' ' ' | sed 's/^/  certificate: /; s/$/\n/' ;;
			"") echo ;;
			*) echo "$line" ;;
			esac
		done
}
show "What the directory holds now (ldapsearch)"

step "certgal report: per user, the current key and its status (read-only)"
"$certgal" report -config "$work/certgal.yaml"

step "A lookup over HTTP: certgal run serves what it published (GET /certs/{email})"
port=$(free_port)
sed -i "s/^  listen: \"\"  # lookup/  listen: \"127.0.0.1:$port\"  # lookup/" "$work/certgal.yaml"
"$certgal" run -config "$work/certgal.yaml" 2>"$work/run.log" &
daemon=$!
for _ in $(seq 50); do
	curl -fsS -o /dev/null "http://127.0.0.1:$port/certs/bob@corp.example" 2>/dev/null && break
	sleep 0.2
done
echo "\$ curl http://127.0.0.1:$port/certs/Bob@Corp.Example?format=json"
curl -fsS "http://127.0.0.1:$port/certs/Bob@Corp.Example?format=json" | tr "," "\n" | sed -n "1,6p"
curl -fsS -o "$work/bob.cer" "http://127.0.0.1:$port/certs/bob@corp.example"
echo "\$ curl -o bob.cer .../certs/bob@corp.example && openssl cms -encrypt -recip bob.cer"
echo "hello Bob" | openssl cms -encrypt -aes256 -recip "$work/bob.cer" -outform PEM | head -3
printf 'carol (revoked) and nobody@: '
curl -s -o /dev/null -w '%{http_code} ' "http://127.0.0.1:$port/certs/carol@corp.example"
curl -s -o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$port/certs/nobody@corp.example"
kill -TERM "$daemon" && wait "$daemon" || true
daemon=

step "certgal sync again: nothing to do, nothing written"
"$certgal" sync -config "$work/certgal.yaml"

step "alice loses her laptop: the CA revokes her certificate and publishes a CRL"
ca revoke "$work/ca" "$alice" keyCompromise >/dev/null
ca crl "$work/ca" "$work/ca/crl.pem" >/dev/null
"$certgal" sync -config "$work/certgal.yaml"
show "alice's certificate is gone"
