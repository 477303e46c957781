#!/usr/bin/env bash
# Compares the plans two builds of certgal print (`certgal sync -dry-run -o json`) for the same
# worlds: a refactoring must not change a single line of them. The base build comes from a git
# revision, the other from the working tree. The worlds: certgal-gen's (the initial publish, a
# pass after renewals, revocations and expiries, a converged directory), and make demo's, grown
# by `openssl ca` certificates of other kinds (legacy subject address, smart-card, signing-only),
# before its first pass and after it and a revocation. Each under every policy.smime_attribute
# mode and under a max_deletes that blocks the pass, in a private slapd stopped by its PID.
#
# Usage: testdata/plans/compare.sh BASE_REV [N]   (N users, default 3000). Exit 1 on a difference.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
base=${1:?usage: compare.sh BASE_REV [N]}
n=${2:-3000}
GO=${GO:-go}
cd "$(dirname "$0")/../.."
testdata/install-deps.sh

tmp=$(mktemp -d /tmp/certgal-plans.XXXXXX)
running=
cleanup() {
	if [[ -n "$running" ]]; then testdata/slapd/stop.sh "$running" >/dev/null 2>&1 || true; fi
	git worktree remove --force "$tmp/base-src" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

git worktree add -q --detach "$tmp/base-src" "$base"
(cd "$tmp/base-src" && $GO build -o "$tmp/certgal-base" ./cmd/certgal)
$GO build -o "$tmp/certgal-new" ./cmd/certgal
$GO build -o "$tmp/certgal-gen" ./cmd/certgal-gen
"$tmp/certgal-gen" -n "$n" -out "$tmp/world" -published none,previous,current >/dev/null

diffs=0
# compare_plans STATE: both builds' plans of the running slapd's world, in every variant.
compare_plans() {
	local st=$1 variant cfg mode deletes b lines
	for variant in report manage remove-stale blocked; do
		cfg=$tmp/$st-$variant.yaml
		mode=$variant deletes=
		if [[ $variant == blocked ]]; then mode=report deletes=0; fi
		sed -e "s#^  url: .*#  url: $LDAP_URL#" \
			-e "s#^  bind_dn: .*#  bind_dn: $LDAP_ROOTDN#" \
			-e "s#^  bind_password_file: .*#  bind_password_file: $tmp/world/bind-password#" \
			-e "s#^policy:#policy:\n  smime_attribute: $mode#" \
			"$tmp/world/certgal.yaml" >"$cfg"
		if [[ -n $deletes ]]; then sed -i "s#^  max_deletes: .*#  max_deletes: $deletes#" "$cfg"; fi
		for b in base new; do
			CERTGAL_CACHE_DIR=$tmp/cache-$b "$tmp/certgal-$b" sync -config "$cfg" -dry-run -o json \
				>"$tmp/$st-$variant.$b.json" 2>"$tmp/$st-$variant.$b.log" || echo "exit $?" >>"$tmp/$st-$variant.$b.json"
		done
		lines=$(wc -l <"$tmp/$st-$variant.new.json")
		if cmp -s "$tmp/$st-$variant.base.json" "$tmp/$st-$variant.new.json"; then
			echo "same      $st/$variant ($lines lines)"
		else
			echo "DIFFERENT $st/$variant"
			diff "$tmp/$st-$variant.base.json" "$tmp/$st-$variant.new.json" | head -20
			diffs=$((diffs + 1))
		fi
	done
}

for st in none previous current; do
	PRELOAD_LDIF="$tmp/world/users-$st.ldif" testdata/slapd/start.sh "$tmp/slapd-$st" >/dev/null
	running="$tmp/slapd-$st"
	# shellcheck disable=SC1091
	. "$tmp/slapd-$st/env"
	printf '%s' "$LDAP_ROOTPW" >"$tmp/world/bind-password"
	compare_plans "$st"
	testdata/slapd/stop.sh "$running" >/dev/null
	running=
done

# make demo's world, and more kinds of certificates of the same CA.
demo=$tmp/demo
mkdir -p "$demo"
ca() { KEYDIR="$demo/keys" testdata/ca/openssl-ca.sh "$@"; }
day() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
ca init "$demo/ca" "Demo S/MIME CA" >/dev/null
alice=$(ca issue "$demo/ca" alice@corp.example)
ca issue "$demo/ca" bob@corp.example --start "$(day '-30 days')" --end "$(day '+335 days')" >/dev/null
ca issue "$demo/ca" bob@corp.example --key rsa >/dev/null
carol=$(ca issue "$demo/ca" carol@corp.example)
ca revoke "$demo/ca" "$carol" keyCompromise >/dev/null
ca issue "$demo/ca" dan@corp.example --ext legacy >/dev/null
ca issue "$demo/ca" erin@corp.example --ext smartcard >/dev/null
ca issue "$demo/ca" erin@corp.example --ext signonly >/dev/null
ca issue "$demo/ca" erin@corp.example >/dev/null
frank=$(ca issue "$demo/ca" frank@corp.example --start "$(day '-400 days')" --end "$(day '-30 days')")
ca crl "$demo/ca" "$demo/ca/crl.pem" >/dev/null
testdata/slapd/start.sh "$tmp/slapd-demo" >/dev/null
running="$tmp/slapd-demo"
# shellcheck disable=SC1091
. "$tmp/slapd-demo/env"
printf '%s' "$LDAP_ROOTPW" >"$tmp/world/bind-password"
for u in alice Bob carol dan erin frank; do
	printf 'dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: Example\nmail: %s@corp.example\n\n' \
		"$u" "$LDAP_SUFFIX" "$u" "$u" "$u"
done | LDAPTLS_CACERT="$LDAP_CA_FILE" ldapadd -H "$LDAPS_URL" -x -D "$LDAP_ROOTDN" -w "$LDAP_ROOTPW" >/dev/null
sed -e "s#^    dir: .*#    dir: $demo/ca#" -e "s#^  ca_files: .*#  ca_files: [$demo/ca/ca.pem]#" \
	"$tmp/world/certgal.yaml" >"$tmp/world/demo.yaml"
cp "$tmp/world/demo.yaml" "$tmp/world/certgal.yaml"
compare_plans demo-first
sed "s#^  url: .*#  url: $LDAP_URL#; s#^  bind_dn: .*#  bind_dn: $LDAP_ROOTDN#; s#^  bind_password_file: .*#  bind_password_file: $tmp/world/bind-password#" \
	"$tmp/world/demo.yaml" >"$tmp/demo-apply.yaml"
CERTGAL_CACHE_DIR=$tmp/cache-base "$tmp/certgal-base" sync -config "$tmp/demo-apply.yaml" >/dev/null 2>&1
# frank's only key, long expired, in his entry: its removal takes his last key, which the
# blocked variant's max_deletes holds back.
printf 'dn: uid=frank,ou=people,%s\nchangetype: modify\nadd: userCertificate;binary\nuserCertificate;binary:< file://%s\n' \
	"$LDAP_SUFFIX" "$demo/frank.der" >"$demo/frank.ldif"
openssl x509 -in "$demo/ca/newcerts/$frank.pem" -outform DER -out "$demo/frank.der"
LDAPTLS_CACERT="$LDAP_CA_FILE" ldapmodify -H "$LDAPS_URL" -x -D "$LDAP_ROOTDN" -w "$LDAP_ROOTPW" -f "$demo/frank.ldif" >/dev/null
ca revoke "$demo/ca" "$alice" keyCompromise >/dev/null
ca crl "$demo/ca" "$demo/ca/crl.pem" >/dev/null
compare_plans demo-revoked
testdata/slapd/stop.sh "$running" >/dev/null
running=
[[ $diffs -eq 0 ]] || { echo "$diffs plans differ"; exit 1; }
echo "every plan is the same"
