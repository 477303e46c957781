#!/usr/bin/env bash
# `make bench`: certgal at BENCH_N users (default 100000) against a private slapd, each number next
# to a reference tool measured in the same run. Not a test: it prints a table and ratios.
#
#   steady state  a converged directory (nothing to change): a cold `certgal sync` (fresh process),
#                 once with an empty classification cache ("first"), once with the cache an earlier
#                 run left (the usual case: cron, a restarted daemon), a warm pass (testdata/bench/passes: later passes of one process), against
#                 `ldapsearch -E pr=1000/noprompt` reading the same attributes; LDAP operations
#                 counted by slapd's cn=Monitor; peak RSS.
#   publish       the initial publish of one certificate per user: `certgal sync` against
#                 `ldapmodify -f` of the identical change LDIF (one process, and four in parallel)
#                 and against a naive per-certificate search-then-modify loop
#                 (testdata/bench/naive). certgal runs twice: with an empty classification cache,
#                 and after `certgal sync -dry-run` (README's step before the first real run),
#                 which leaves the cache behind. slapd is reset to the same snapshot before every run,
#                 and every run must leave the directory in the same state.
#
#   the daemon    testdata/bench/daemon.sh on the same world: `certgal run` through scheduled passes,
#                 one publishing a renewal of BENCH_RENEW per cent of the certificates, with the
#                 lookup on and off: its memory against 2 x DER + 50 MB, and its no-op passes beside
#                 ldapsearch.
#
# The steady state is measured in rounds of ldapsearch, warm pass, cold sync with the cache,
# ldapsearch (then the other kinds): each warm or cold figure is divided by the mean of the two
# ldapsearch runs beside it, and the median of those ratios is reported, as this machine's speed
# drifts by more than the difference between separate runs.
#
# Environment: BENCH_N users; BENCH_RUNS runs of each measurement (medians are reported, default
# 3); BENCH_MEMLIMIT the GOMEMLIMIT of one more cold run and one more warm process (default 180MiB: README
# "Sizing"); BENCH_SKIP_PUBLISH=1, BENCH_SKIP_NAIVE=1 or BENCH_SKIP_DAEMON=1 to leave parts out;
# BENCH_RENEW the daemon's renewal (per cent, default 10; daemon.sh has its other knobs);
# BENCH_KEEP=1 keeps the work directory; BENCH_PROFILE=DIR writes CPU and heap profiles of certgal's
# passes into DIR.
#
# Everything runs on loopback in a private temporary directory; every slapd it starts is stopped
# by PID (testdata/slapd/stop.sh) when it exits.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export PATH="$PATH:/usr/sbin:/sbin:/usr/local/go/bin"

N=${BENCH_N:-100000}
RUNS=${BENCH_RUNS:-3}
MEMLIMIT=${BENCH_MEMLIMIT:-180MiB}
RENEW=${BENCH_RENEW:-10}
GO=${GO:-go}
PW=secret

if [[ ! -x /usr/bin/time ]]; then
	echo "bench: installing time" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null; }
fi

tmp=$(mktemp -d /tmp/certgal-bench.XXXXXX)
running="" # the slapd directory currently started
cleanup() {
	if [[ -n "$running" ]]; then testdata/slapd/stop.sh "$running" >/dev/null 2>&1 || true; fi
	if [[ -z "${BENCH_KEEP:-}" ]]; then rm -rf "$tmp"; else echo "bench: kept $tmp" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

log() { echo "bench: $*" >&2; }
# shellcheck source=../lib/numbers.sh
. testdata/lib/numbers.sh

# certgal's classification cache (README) lives here, so that runs can start with and without it.
export CERTGAL_CACHE_DIR=$tmp/cache

log "building certgal, certgal-gen and the benchmark helpers"
mkdir -p "$tmp/bin"
$GO build -o "$tmp/bin/certgal" ./cmd/certgal
$GO build -o "$tmp/bin/certgal-gen" ./cmd/certgal-gen
$GO build -o "$tmp/bin/passes" ./testdata/bench/passes
$GO build -o "$tmp/bin/naive" ./testdata/bench/naive
B=$tmp/bin

log "generating $N users (states none and current)"
gen_start=$(date +%s.%N)
"$B/certgal-gen" -n "$N" -out "$tmp/world" -published none,current -renew "$RENEW" >&2
gen_secs=$(calc "$(date +%s.%N) - $gen_start")
printf '%s' "$PW" >"$tmp/world/bind-password"

# snapshot STATE: a stopped slapd directory with the users of STATE loaded by slapadd -q.
snapshot() {
	local st=$1 t0
	t0=$(date +%s.%N)
	PRELOAD_LDIF="$tmp/world/users-$st.ldif" testdata/slapd/start.sh "$tmp/snap-$st" >/dev/null
	testdata/slapd/stop.sh "$tmp/snap-$st"
	log "snapshot $st: loaded in $(calc "$(date +%s.%N) - $t0")s, $(du -sh "$tmp/snap-$st/db" | cut -f1)"
}

# start_from STATE: a fresh copy of the snapshot, started; sets URL, CFG.
start_from() {
	local st=$1
	if [[ -n "$running" ]]; then testdata/slapd/stop.sh "$running" >/dev/null; running=""; fi
	rm -rf "$tmp/run"
	cp -a "$tmp/snap-$st" "$tmp/run"
	running="$tmp/run"
	testdata/slapd/start.sh "$tmp/run" >/dev/null
	# shellcheck disable=SC1091
	. "$tmp/run/env"
	URL=$LDAP_URL
	SUFFIX=$LDAP_SUFFIX
	ROOTDN=$LDAP_ROOTDN
	CFG=$tmp/run/certgal.yaml
	sed -e "s#^  url: .*#  url: $URL#" -e "s#^  bind_password_file: .*#  bind_password_file: $tmp/world/bind-password#" \
		"$tmp/world/certgal.yaml" >"$CFG"
}

# ops: "search modify add delete bind connections" completed so far, from cn=Monitor.
ops() {
	local out
	out=$(ldapsearch -x -LLL -o ldif-wrap=no -H "$URL" -D "$ROOTDN" -w "$PW" -b cn=Monitor \
		'(|(objectClass=monitorOperation)(cn=Total))' monitorOpCompleted monitorCounter)
	awk -v RS= '
		/^dn: cn=Search,cn=Operations/ { match($0, /monitorOpCompleted: [0-9]+/); s = substr($0, RSTART + 20, RLENGTH - 20) }
		/^dn: cn=Modify,cn=Operations/ { match($0, /monitorOpCompleted: [0-9]+/); m = substr($0, RSTART + 20, RLENGTH - 20) }
		/^dn: cn=Add,cn=Operations/ { match($0, /monitorOpCompleted: [0-9]+/); a = substr($0, RSTART + 20, RLENGTH - 20) }
		/^dn: cn=Delete,cn=Operations/ { match($0, /monitorOpCompleted: [0-9]+/); d = substr($0, RSTART + 20, RLENGTH - 20) }
		/^dn: cn=Bind,cn=Operations/ { match($0, /monitorOpCompleted: [0-9]+/); b = substr($0, RSTART + 20, RLENGTH - 20) }
		/^dn: cn=Total,cn=Connections/ { match($0, /monitorCounter: [0-9]+/); c = substr($0, RSTART + 16, RLENGTH - 16) }
		END { print s + 0, m + 0, a + 0, d + 0, b + 0, c + 0 }' <<<"$out"
}

# opsdiff BEFORE AFTER: what happened between two ops readings, less the reading itself (one bind,
# one search, one connection).
opsdiff() {
	local -a x=($1) y=($2)
	echo "searches=$((y[0] - x[0] - 1)) modifies=$((y[1] - x[1])) adds=$((y[2] - x[2])) deletes=$((y[3] - x[3])) binds=$((y[4] - x[4] - 1)) connections=$((y[5] - x[5] - 1))"
}

# timed FILE CMD...: runs CMD under /usr/bin/time; FILE gets "wall_seconds maxrss_kb".
timed() {
	local f=$1
	shift
	/usr/bin/time -f '%e %M' -o "$f" "$@"
}

# digest: the users' userCertificate values, independent of value order.
digest() {
	ldapsearch -x -LLL -o ldif-wrap=no -H "$URL" -D "$ROOTDN" -w "$PW" -b "$SUFFIX" -E pr=1000/noprompt \
		'(objectClass=inetOrgPerson)' 'userCertificate;binary' |
		awk '/^dn: /{dn = $0} /^userCertificate/{print dn, $2}' | sort | sha256sum | cut -c1-16
}

snapshot current
[[ -n "${BENCH_SKIP_PUBLISH:-}" ]] || snapshot none
der_mb=$(awk '/"current": [{]/ {f = 1} f && /directory_value_bytes/ {gsub(/[^0-9]/, ""); printf "%.1f", $0 / 1e6; exit}' "$tmp/world/summary.json")
src_mb=$(du -sm --apparent-size "$tmp/world/ca/newcerts" | cut -f1)

# --- steady state ---------------------------------------------------------------------------------
start_from current
log "steady state: slapd $URL, $N users, ${der_mb} MB of userCertificate values; load $(load)"
# One unmeasured read first, so every measured run finds slapd's and the kernel's caches warm alike.
ldapsearch -x -H "$URL" -D "$ROOTDN" -w "$PW" -b "$SUFFIX" -E pr=1000/noprompt '(objectClass=inetOrgPerson)' \
	'userCertificate;binary' userSMIMECertificate mail >/dev/null
: >"$tmp/steady"

# ldapsearch_run R: one timed ldapsearch of what certgal reads.
ldapsearch_run() {
	timed "$tmp/t" ldapsearch -x -H "$URL" -D "$ROOTDN" -w "$PW" -b "$SUFFIX" -E pr=1000/noprompt \
		'(objectClass=inetOrgPerson)' 'userCertificate;binary' userSMIMECertificate mail >/dev/null
	read -r s rss <"$tmp/t"
	echo "ldapsearch $s $rss round=$1" >>"$tmp/steady"
}

# cold_run KIND R: a cold `certgal sync`. cold-first: no classification cache (a new installation);
# it leaves one, as every run does, for cold. cold-limit is cold under a soft memory limit (README
# "Sizing").
cold_run() {
	local kind=$1 before after limit=()
	[[ $kind != cold-first ]] || rm -rf "$CERTGAL_CACHE_DIR"
	[[ $kind != cold-limit ]] || limit=(env "GOMEMLIMIT=$MEMLIMIT")
	before=$(ops)
	timed "$tmp/t" "${limit[@]}" "$B/certgal" sync -config "$CFG" >"$tmp/plan.txt" 2>"$tmp/cold.log"
	after=$(ops)
	read -r s rss <"$tmp/t"
	echo "$kind $s $rss $(opsdiff "$before" "$after") round=$2" >>"$tmp/steady"
	grep -q '^plan: 0 to add, 0 to remove' "$tmp/plan.txt" || { log "cold pass changed something:"; tail -3 "$tmp/plan.txt" >&2; exit 1; }
}

# warm_run KIND R [PROFILE FLAGS]: a daemon's passes, three in one process; warm-limit the same under
# GOMEMLIMIT. passes prints each pass's own peak (pass_rss_kb) and resets the kernel's high-water
# mark after each, which /usr/bin/time reads too: the process's peak is the largest pass_rss_kb.
warm_run() {
	local kind=$1 r=$2 before after limit=() warm later
	shift 2
	[[ $kind != warm-limit ]] || limit=(env "GOMEMLIMIT=$MEMLIMIT")
	before=$(ops)
	timed "$tmp/t" "${limit[@]}" "$B/passes" -config "$CFG" -passes 3 "$@" >"$tmp/passes.txt"
	after=$(ops)
	grep -q 'adds=0 removes=0' "$tmp/passes.txt" || { log "warm passes changed something"; cat "$tmp/passes.txt" >&2; exit 1; }
	rss=$(awk '{ split($NF, a, "="); print a[2] }' "$tmp/passes.txt" | sort -g | tail -1)
	warm=$(awk '$1 != "pass=1" { split($2, a, "="); print a[2] }' "$tmp/passes.txt" | median)
	later=$(awk '$1 != "pass=1" { split($NF, a, "="); print a[2] }' "$tmp/passes.txt" | sort -g | tail -1)
	echo "$kind $warm $rss $(opsdiff "$before" "$after") later_rss_kb=$later round=$r" >>"$tmp/steady"
}

# One unmeasured run first: it leaves the classification cache that "cold" finds in round 1.
"$B/certgal" sync -config "$CFG" >/dev/null 2>&1
for ((r = 1; r <= RUNS; r++)); do
	# The no-op pass against ldapsearch, interleaved: ldapsearch, warm, cold with the cache,
	# ldapsearch; each ratio is taken against the two ldapsearch runs beside it (this machine's
	# speed drifts by more than the difference between separate runs).
	prof=()
	if [[ -n "${BENCH_PROFILE:-}" && $r -eq 1 ]]; then
		mkdir -p "$BENCH_PROFILE"
		prof=(-cpuprofile "$BENCH_PROFILE/steady-warm.cpu" -memprofile "$BENCH_PROFILE/steady.heap")
	fi
	ldapsearch_run "$r"
	warm_run warm "$r" "${prof[@]}"
	cold_run cold "$r"
	ldapsearch_run "$r"
	cold_run cold-first "$r"
	cold_run cold-limit "$r"
	if [[ -n "${BENCH_PROFILE:-}" && $r -eq 1 ]]; then
		"$B/passes" -config "$CFG" -passes 1 -profile-all -cpuprofile "$BENCH_PROFILE/steady-cold.cpu" >/dev/null
	fi
	warm_run warm-limit "$r"
	log "steady run $r: $(tail -7 "$tmp/steady" | tr '\n' ';') load $(load)"
done

# --- initial publish ------------------------------------------------------------------------------
: >"$tmp/publish"
if [[ -z "${BENCH_SKIP_PUBLISH:-}" ]]; then
	changes=$tmp/world/changes-none.ldif
	entries=$(grep -c '^changetype: modify' "$changes")
	# Four ldapmodify processes: the change LDIF dealt out record by record.
	awk -v RS= -v ORS='\n\n' -v dir="$tmp" '{print > (dir "/part" (NR % 4) ".ldif")}' "$changes"
	tools=(certgal-first certgal ldapmodify ldapmodify4)
	[[ -n "${BENCH_SKIP_NAIVE:-}" ]] || tools+=(naive)
	for ((r = 1; r <= RUNS; r++)); do
		for tool in "${tools[@]}"; do
			start_from none
			before=$(ops)
			case $tool in
			certgal-first)
				rm -rf "$CERTGAL_CACHE_DIR"
				timed "$tmp/t" "$B/certgal" sync -config "$CFG" >"$tmp/plan.txt" 2>"$tmp/publish.log"
				;;
			certgal)
				# README: a dry run before the first real one; it leaves the cache behind.
				rm -rf "$CERTGAL_CACHE_DIR"
				"$B/certgal" sync -config "$CFG" -dry-run >/dev/null 2>&1
				timed "$tmp/t" "$B/certgal" sync -config "$CFG" >"$tmp/plan.txt" 2>"$tmp/publish.log"
				;;
			ldapmodify)
				timed "$tmp/t" ldapmodify -x -H "$URL" -D "$ROOTDN" -w "$PW" -f "$changes" >/dev/null
				;;
			ldapmodify4)
				timed "$tmp/t" bash -c 'for i in 0 1 2 3; do ldapmodify -x -H "$1" -D "$2" -w "$3" -f "$4/part$i.ldif" >/dev/null & done; wait' \
					_ "$URL" "$ROOTDN" "$PW" "$tmp"
				;;
			naive)
				timed "$tmp/t" "$B/naive" -url "$URL" -D "$ROOTDN" -w "$PW" -b "$SUFFIX" -f "$changes" >/dev/null
				;;
			esac
			after=$(ops)
			read -r s rss <"$tmp/t"
			d=$(digest)
			echo "$tool $s $rss $d $(opsdiff "$before" "$after")" >>"$tmp/publish"
			log "publish run $r $tool: ${s}s digest $d $(opsdiff "$before" "$after"); load $(load)"
		done
		if [[ -n "${BENCH_PROFILE:-}" && $r -eq 1 ]]; then
			start_from none
			"$B/passes" -config "$CFG" -passes 1 -profile-all -cpuprofile "$BENCH_PROFILE/publish.cpu" \
				-memprofile "$BENCH_PROFILE/publish.heap" >/dev/null
		fi
	done
	if [[ $(awk '{print $4}' "$tmp/publish" | sort -u | wc -l) -ne 1 ]]; then
		log "the tools left different directories:"
		cat "$tmp/publish" >&2
		exit 1
	fi
fi
testdata/slapd/stop.sh "$running" >/dev/null
running=""

# --- report ---------------------------------------------------------------------------------------
col() { awk -v t="$1" -v c="$2" '$1 == t {print $c}' "$3" | median; }
field() { awk -v t="$1" -v k="$2" '$1 == t { for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) print kv[2] } }' "$3" | median; }
ls_s=$(col ldapsearch 2 "$tmp/steady")
cold_s=$(col cold 2 "$tmp/steady")
cold_rss=$(col cold 3 "$tmp/steady")
first_s=$(col cold-first 2 "$tmp/steady")
first_rss=$(col cold-first 3 "$tmp/steady")
limit_s=$(col cold-limit 2 "$tmp/steady")
limit_rss=$(col cold-limit 3 "$tmp/steady")
warm_s=$(col warm 2 "$tmp/steady")
warm_rss=$(col warm 3 "$tmp/steady")
warm_later=$(field warm later_rss_kb "$tmp/steady")
wlimit_s=$(col warm-limit 2 "$tmp/steady")
wlimit_rss=$(col warm-limit 3 "$tmp/steady")
rss_limit=$(calc "2 * $der_mb + 50")

echo
echo "certgal benchmark: $N users, $RUNS runs each (medians), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load at end $(load)"
echo "world: generated in ${gen_secs%.*}s; ${der_mb} MB of userCertificate values in the directory; ${src_mb} MB of PEM in newcerts/"
echo
echo "steady state (nothing to change)       seconds   peak RSS MB   LDAP operations of one pass"
printf '%-38s %8.2f %12s   %s\n' "ldapsearch -E pr=1000/noprompt" "$ls_s" "-" "-"
printf '%-38s %8.2f %12.0f   %s\n' "certgal sync, cold, no cache" "$first_s" "$(calc "$first_rss * 1024 / 1e6")" \
	"searches=$(field cold-first searches "$tmp/steady") modifies=$(field cold-first modifies "$tmp/steady") adds+deletes=$(($(field cold-first adds "$tmp/steady") + $(field cold-first deletes "$tmp/steady")))"
printf '%-38s %8.2f %12.0f   %s\n' "certgal sync, cold, cache of a run" "$cold_s" "$(calc "$cold_rss * 1024 / 1e6")" \
	"searches=$(field cold searches "$tmp/steady") modifies=$(field cold modifies "$tmp/steady") adds+deletes=$(($(field cold adds "$tmp/steady") + $(field cold deletes "$tmp/steady")))"
printf '%-38s %8.2f %12.0f   %s\n' "certgal sync, cold, GOMEMLIMIT=$MEMLIMIT" "$limit_s" "$(calc "$limit_rss * 1024 / 1e6")" \
	"searches=$(field cold-limit searches "$tmp/steady") modifies=$(field cold-limit modifies "$tmp/steady") adds+deletes=$(($(field cold-limit adds "$tmp/steady") + $(field cold-limit deletes "$tmp/steady")))"
printf '%-38s %8.2f %12.0f   %s\n' "certgal warm pass (2nd/3rd in process)" "$warm_s" "$(calc "$warm_rss * 1024 / 1e6")" \
	"modifies=$(field warm modifies "$tmp/steady") over 3 passes, searches=$(field warm searches "$tmp/steady") over 3 passes"
printf '%-38s %8.2f %12.0f   %s\n' "certgal warm pass, GOMEMLIMIT=$MEMLIMIT" "$wlimit_s" "$(calc "$wlimit_rss * 1024 / 1e6")" \
	"modifies=$(field warm-limit modifies "$tmp/steady") over 3 passes"
printf '%-38s %8.2fx  (ratio of the medians; with GOMEMLIMIT=%s: %.2fx)\n' "ratio warm / ldapsearch" "$(calc "$warm_s / $ls_s")" \
	"$MEMLIMIT" "$(calc "$wlimit_s / $ls_s")"
# Each round's warm and cold against the mean of the two ldapsearch runs beside them.
awk '{ r = ""; for (i = 4; i <= NF; i++) if ($i ~ /^round=/) r = substr($i, 7)
	if ($1 == "ldapsearch") { ls[r] += $2; n[r]++ } else if ($1 == "warm") w[r] = $2; else if ($1 == "cold") c[r] = $2 }
	END { for (r in w) if (n[r] == 2) printf "%d %.3f %.3f %.3f %.3f %.3f\n", r, ls[r] / 2, w[r], c[r], w[r] / (ls[r] / 2), c[r] / (ls[r] / 2) }' \
	"$tmp/steady" | sort -n >"$tmp/rounds"
printf '%-38s %8.2fx  (issue 17: <= 1.2) warm, %.2fx cold with the cache: the medians of the rounds below\n' \
	"no-op pass / ldapsearch, interleaved" "$(awk '{print $5}' "$tmp/rounds" | median)" "$(awk '{print $6}' "$tmp/rounds" | median)"
while read -r r ls w c rw rc; do
	printf '  round %d: ldapsearch %.2f s (mean of the runs before and after), warm %.2f s = %.2fx, cold %.2f s = %.2fx\n' \
		"$r" "$ls" "$w" "$rw" "$c" "$rc"
done <"$tmp/rounds"
printf '%-38s %8.2f s  (target <= 2.5; with no cache: %.2f s)\n' "cold certgal sync, cache of a run" "$cold_s" "$first_s"
printf '%-38s %8.0f MB (target <= 2 x %s + 50 = %s MB; with GOMEMLIMIT=%s: %.0f MB)\n' "peak RSS, cold" \
	"$(calc "$cold_rss * 1024 / 1e6")" "$der_mb" "$rss_limit" "$MEMLIMIT" "$(calc "$limit_rss * 1024 / 1e6")"
printf '%-38s %8.0f MB (the largest pass; the passes after the first: %.0f MB; with GOMEMLIMIT=%s: %.0f MB)\n' "peak RSS, warm process" \
	"$(calc "$warm_rss * 1024 / 1e6")" "$(calc "$warm_later * 1024 / 1e6")" "$MEMLIMIT" "$(calc "$wlimit_rss * 1024 / 1e6")"
echo "(one paged search of $N entries at page_size 1000 is $(((N + 999) / 1000)) search operations)"

if [[ -s "$tmp/publish" ]]; then
	echo
	echo "initial publish of $entries certificates   seconds   entries/s   certgal/other   modifies"
	cg=$(col certgal 2 "$tmp/publish")
	for tool in certgal-first certgal ldapmodify ldapmodify4 naive; do
		s=$(col "$tool" 2 "$tmp/publish")
		[[ "$s" != nan ]] || continue
		label=$tool
		case $tool in
		certgal-first) label="certgal sync, no cache" ;;
		certgal) label="certgal sync after a dry run" ;;
		ldapmodify) label="ldapmodify -f (1 process)" ;;
		ldapmodify4) label="ldapmodify -f (4 in parallel)" ;;
		naive) label="naive search-then-modify" ;;
		esac
		printf '%-38s %8.2f %10.0f %14.2fx %10s\n' "$label" "$s" "$(calc "$entries / $s")" \
			"$(calc "$s / $cg")" "$(field "$tool" modifies "$tmp/publish")"
	done
	echo "certgal/other = throughput ratio (other's time / certgal's time after a dry run; target >= 1.0 against ldapmodify)"
	echo "certgal with no cache / ldapmodify: $(calc "$(col ldapmodify 2 "$tmp/publish") / $(col certgal-first 2 "$tmp/publish")")x"
	echo "every run left the same directory (digest $(awk 'NR == 1 {print $4}' "$tmp/publish"))"
fi
echo
echo "raw runs:"
sed 's/^/  steady  /' "$tmp/steady"
[[ ! -s "$tmp/publish" ]] || sed 's/^/  publish /' "$tmp/publish"

# --- the daemon -----------------------------------------------------------------------------------
if [[ -z "${BENCH_SKIP_DAEMON:-}" ]]; then
	DAEMON_WORLD=$tmp/world DAEMON_SNAPSHOT=$tmp/snap-current DAEMON_BIN=$B BENCH_N=$N BENCH_RENEW=$RENEW \
		testdata/bench/daemon.sh
fi
