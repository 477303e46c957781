#!/usr/bin/env bash
# Compares the plans two builds of certgal print (`certgal sync -dry-run -o json`) for the same
# generated worlds: a refactoring must not change a single line of them. The base build comes
# from a git revision, the other from the working tree. Each world is a certgal-gen world (the
# initial publish, a pass after renewals, revocations and expiries, a converged directory) under
# every policy.smime_attribute mode and under a max_deletes that blocks the pass, in a private
# slapd stopped by its PID.
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
for st in none previous current; do
	PRELOAD_LDIF="$tmp/world/users-$st.ldif" testdata/slapd/start.sh "$tmp/slapd-$st" >/dev/null
	running="$tmp/slapd-$st"
	# shellcheck disable=SC1091
	. "$tmp/slapd-$st/env"
	printf '%s' "$LDAP_ROOTPW" >"$tmp/world/bind-password"
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
	testdata/slapd/stop.sh "$running" >/dev/null
	running=
done
[[ $diffs -eq 0 ]] || { echo "$diffs plans differ"; exit 1; }
echo "every plan is the same"
