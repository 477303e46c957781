#!/usr/bin/env bash
# `make bench-ad`: certgal against the Samba AD DC the tests start (testdata/samba/start.sh), at
# BENCH_AD_N users (default 5000), each number next to a reference tool measured in the same run.
# Not a test: it prints a table and ratios (docs/BENCHMARKS.md, "Active Directory at 5,000 users").
#
#   load          the users (certgal-gen -ad-base: objectClass user, mail, proxyAddresses, the
#                 values certgal does not own) added by `ldapadd -f`, timed once.
#   publish       the first publish of one certificate per user: `certgal sync` after
#                 `certgal sync -dry-run` (README's first run), `certgal sync` with no cache, and
#                 `ldapmodify -f` of the identical change LDIF; then certgal's writes on 1, 2, 4, ...
#                 parallel connections (BENCH_AD_WORKERS, through testdata/bench/passes -workers,
#                 the Syncer `certgal sync` wires). Every run starts from the same directory: samba is
#                 stopped and its private/ directory restored from a copy taken after the load. After
#                 each run every user's userCertificate values are hashed: all runs must leave the
#                 same directory, the one certgal-gen says is converged.
#   no-op pass    the converged directory: `certgal sync` (with the cache of a run, and with none)
#                 against `ldapsearch -E pr=1000/noprompt` of the attributes certgal reads on AD.
#
# Where the time goes, for every run: wall time; the client's CPU (user+sys, /usr/bin/time); samba's
# CPU (utime+stime, and that of reaped children, of every process of the DC's process group, from
# /proc before and after); modifies the DC committed (its highestCommittedUSN: one per modify);
# binds (the DC's auth_audit log: one per connection); LDAP round trips (binds + searches +
# modifies; a paged search is one search per page, plus certgal's rootDSE read).
#
# Environment: BENCH_AD_N users; BENCH_AD_ROUNDS rounds of each measurement, alternated (medians,
# default 3); BENCH_AD_WORKERS the write connections to try (default "1 2 4 8 16 32");
# BENCH_AD_MODEL samba's process model (default prefork, samba's own default and what a
# production DC runs; the tests use single); BENCH_AD_KEEP=1 keeps the work directory.
#
# The DC's ports are fixed (389, 636): the script holds /tmp/certgal-samba.lock, which the tests'
# DCs take too (ldapgal/adtest), for the whole run, and records its DC there as adtest does. On a
# shared machine run it under the CPU lock the other benchmarks take:
# `flock /tmp/certgal-cpu.lock make bench-ad` (samba inherits no lock: it starts with only fds
# 0-2). Every samba it starts is stopped by PID (testdata/samba/stop.sh) when it exits,
# interrupted or not.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export PATH="$PATH:/usr/sbin:/sbin:/usr/local/go/bin"

N=${BENCH_AD_N:-5000}
ROUNDS=${BENCH_AD_ROUNDS:-3}
WORKERS=${BENCH_AD_WORKERS:-1 2 4 8 16 32}
MODEL=${BENCH_AD_MODEL:-prefork}
GO=${GO:-go}
SAMBA_LOCK=/tmp/certgal-samba.lock
OU=OU=bench,DC=corp,DC=example,DC=com
PEOPLE='(&(objectCategory=person)(objectClass=user))'

log() { echo "bench-ad: $*" >&2; }
# shellcheck source=../lib/numbers.sh
. testdata/lib/numbers.sh
now() { date +%s.%N; }

testdata/install-deps.sh
if [[ ! -x /usr/bin/time ]]; then
	log "installing time"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null; }
fi

tmp=$(mktemp -d /tmp/certgal-bench-ad.XXXXXX)
DC=$tmp/dc
dc_up=""  # set while a samba of ours may run in $DC
locked="" # set once this script holds $SAMBA_LOCK
cleanup() {
	if [[ -n "$dc_up" ]]; then testdata/samba/stop.sh "$DC" >/dev/null 2>&1 || log "could not stop samba in $DC"; fi
	# The record names our DC; it is stopped now. Truncating the file does not release the lock:
	# closing fd 9 (at exit) does.
	[[ -z "$locked" ]] || : >"$SAMBA_LOCK"
	if [[ -z "${BENCH_AD_KEEP:-}" ]]; then rm -rf "$tmp"; else log "kept $tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

log "building certgal, certgal-gen and testdata/bench/passes"
B=$tmp/bin
mkdir -p "$B"
$GO build -o "$B/certgal" ./cmd/certgal
$GO build -o "$B/certgal-gen" ./cmd/certgal-gen
$GO build -o "$B/passes" ./testdata/bench/passes

log "generating $N users (states none and current, AD LDIFs below $OU)"
"$B/certgal-gen" -n "$N" -out "$tmp/world" -published none,current -ad-base "$OU" >&2
W=$tmp/world
changes=$W/changes-none-ad.ldif
entries=$(grep -c '^changetype: modify' "$changes")
max_deletes=$(awk '/max_deletes:/ {print $2}' "$W/certgal.yaml")

# --- the DC -----------------------------------------------------------------------------------
# One DC at a time on this machine (fixed ports): wait for the tests' DCs, and leave a record of
# ours that the next holder uses to stop it if this script dies without its EXIT trap.
exec 9>>"$SAMBA_LOCK"
log "waiting for $SAMBA_LOCK ($(cat "$SAMBA_LOCK" 2>/dev/null || true))"
flock 9
locked=1
stale=$(grep -o 'dir=[^ ]*' "$SAMBA_LOCK" | cut -d= -f2 || true)
if [[ -n "$stale" && -e "$stale/samba.pid" ]]; then
	log "stopping the DC a dead holder of the lock left in $stale"
	testdata/samba/stop.sh "$stale" >&2
fi
echo "pid=$$ dir=$DC" >"$SAMBA_LOCK"

# bare CMD...: execs CMD with no file descriptor open but 0-2, so that no samba it starts holds a lock of
# this script's or its caller's (the samba lock's fd 9, a `flock FILE make bench-ad`'s).
# It execs: call it in a subshell, or as a background job (whose PID is then CMD's).
bare() {
	local fd
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		if ((fd > 2)); then eval "exec $fd>&-"; fi
	done
	exec "$@"
}

# start.sh provisions (a cached snapshot), makes the TLS material and smb.conf, and starts samba
# with -M single; the DC is then restarted in $MODEL by dc_start, with auth_audit logging the binds.
dc_up=1
(bare testdata/samba/start.sh "$DC") >/dev/null
# shellcheck disable=SC1091
. "$DC/env"
export LDAPTLS_CACERT=$AD_CA_FILE LDAPTLS_REQCERT=demand
SAMBA_VERSION=$(samba --version | awk '{ print $2 }')

# dc_start: samba as start.sh starts it (its own process group, recognised by stop.sh through
# DIR/log/samba.out), in $MODEL; returns once it answers.
dc_start() {
	local t0 pid
	t0=$(now)
	bare setsid samba -s "$AD_SMB_CONF" -F -M "$MODEL" --maximum-runtime=5400 \
		--option='log level=1 auth_audit:3' </dev/null >"$DC/log/samba.out" 2>&1 &
	pid=$!
	echo "$pid" >"$DC/samba.pid"
	SAMBA_PID=$pid
	until ldapsearch -x -H "$AD_URL" -o nettimeout=2 -b '' -s base namingContexts >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || { log "samba exited:"; cat "$DC/log/samba.out" >&2; exit 1; }
		[[ $(calc "($(now) - $t0 > 60)") == 0 ]] || { log "samba did not answer in 60s"; exit 1; }
		sleep 0.1
	done
}
dc_stop() { testdata/samba/stop.sh "$DC" >/dev/null; }

AUTH=(-x -H "$AD_URL" -D "$AD_BIND_DN" -w "$AD_BIND_PW")
ad() { "$1" "${AUTH[@]}" "${@:2}"; }
usn() { ad ldapsearch -LLL -b '' -s base highestCommittedUSN | awk '/^highestCommittedUSN:/ {print $2}'; }
# binds: successful binds so far (auth_audit's "Auth: [LDAP,...] ... status [NT_STATUS_OK]").
binds() { grep -c 'Auth: \[LDAP.*status \[NT_STATUS_OK\]' "$DC/log/samba.log" 2>/dev/null || true; }
# samba_cpu: clock ticks used by the DC's processes and the children they reaped.
samba_cpu() {
	local p sum=0 t
	for p in $(pgrep -g "$SAMBA_PID"); do
		t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$p/stat" 2>/dev/null) || continue
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}
# samba_split: "comm=ticks" for each process of the DC that used any CPU.
samba_split() {
	local p
	for p in $(pgrep -g "$SAMBA_PID"); do
		awk -v p="$p" '{ c = $0; sub(/^[^(]*\(/, "", c); sub(/\).*$/, "", c); gsub(/ /, "_", c)
			sub(/^.*\) /, ""); print p ":" c "=" $12 + $13 }' "/proc/$p/stat" 2>/dev/null || true
	done
}
HZ=$(getconf CLK_TCK)

# digest: every user's userCertificate values, independent of order and of the DNs' case.
digest() {
	ad ldapsearch -LLL -o ldif-wrap=no -b "$OU" -E pr=1000/noprompt "$PEOPLE" userCertificate |
		awk '/^dn: /{dn = tolower($0)} /^userCertificate:: /{print dn, $2}' | sort | sha256sum | cut -c1-16
}
expected=$(awk '/^dn: /{dn = tolower($0)} /^userCertificate:: /{print dn, $2}' "$W/users-current-ad.ldif" | sort | sha256sum | cut -c1-16)

# --- load -------------------------------------------------------------------------------------
dc_stop
dc_start
log "samba $SAMBA_VERSION -M $MODEL, PID $SAMBA_PID: $(pgrep -g "$SAMBA_PID" | wc -l) processes; loading $N users; load $(load)"
t0=$(now)
c0=$(samba_cpu)
ad ldapadd -f "$W/users-none-ad.ldif" >/dev/null
load_s=$(calc "$(now) - $t0")
load_cpu=$(calc "($(samba_cpu) - $c0) / $HZ")
log "loaded in ${load_s}s (samba CPU ${load_cpu}s)"
dc_stop
cp -a "$DC/private" "$tmp/private-none"
dc_start

# reset: the directory as loaded (samba stopped, private/ restored, started again).
reset() {
	dc_stop
	rm -rf "$DC/private"
	cp -a "$tmp/private-none" "$DC/private"
	dc_start
	# The same first request after every start: the schema and the users' pages are read alike.
	ad ldapsearch -LLL -b "$OU" -s one -z 1 "$PEOPLE" mail >/dev/null 2>&1 || true
}

# The certgal configuration for the DC: certgal-gen's CA store, LDAPS with the DC's CA, the
# dialect found by the rootDSE, the defaults otherwise.
printf '%s' "$AD_BIND_PW" >"$tmp/bind-password"
CFG=$tmp/certgal.yaml
cat >"$CFG" <<EOF
source:
  kind: openssl
  openssl:
    dir: $W/ca
    crl_files: [crl.pem]
trust:
  ca_files: [$W/ca/ca.pem]
directory:
  url: $AD_URL
  dialect: auto
  ca_file: $AD_CA_FILE
  bind_dn: "$AD_BIND_DN"
  bind_password_file: $tmp/bind-password
  base_dn: "$OU"
policy:
  max_deletes: $max_deletes
lookup:
  listen: ""
metrics:
  listen: ""
EOF
export CERTGAL_CACHE_DIR=$tmp/cache

# The cache a dry run from the loaded state leaves (README's first run), copied before each run
# that starts "after a dry run", so that every such run finds the same one.
reset
"$B/certgal" sync -config "$CFG" -dry-run >/dev/null 2>"$tmp/dry.log" || { cat "$tmp/dry.log" >&2; exit 1; }
cp -a "$CERTGAL_CACHE_DIR" "$tmp/cache-dry"

# measure KIND ROUND CMD...: runs CMD under /usr/bin/time; appends to $tmp/runs
# "KIND round=R wall=S user=S sys=S rss_kb=K samba_cpu=S modifies=M binds=B". CMD's stderr goes
# to $tmp/cmd.log.
measure() {
	local kind=$1 round=$2 u0 u1 c0 c1 b0 b1 wall user sys rss
	shift 2
	u0=$(usn)
	b0=$(binds)
	c0=$(samba_cpu)
	samba_split >"$tmp/split0"
	/usr/bin/time -f '%e %U %S %M' -o "$tmp/t" "$@" >"$tmp/cmd.out" 2>"$tmp/cmd.log" ||
		{ log "$kind failed:"; tail -5 "$tmp/cmd.log" >&2; exit 1; }
	c1=$(samba_cpu)
	samba_split >"$tmp/split1"
	b1=$(binds)
	u1=$(usn)
	read -r wall user sys rss <"$tmp/t"
	# usn's own bind and search fall outside b0..b1 and u0..u1.
	echo "$kind round=$round wall=$wall user=$user sys=$sys rss_kb=$rss samba_cpu=$(calc "($c1 - $c0) / $HZ") modifies=$((u1 - u0)) binds=$((b1 - b0))" >>"$tmp/runs"
	# Per process: where samba's CPU went (the LDAP workers of prefork, or the one process of single).
	join -t= <(sort "$tmp/split0") <(sort "$tmp/split1") | awk -F= -v k="$kind" -v r="$round" -v hz="$HZ" \
		'$3 - $2 > 0 { sub(/^[0-9]+:/, "", $1); printf "%s round=%s %s %.2f\n", k, r, $1, ($3 - $2) / hz }' >>"$tmp/split"
}

check() { # check KIND: the directory a publish left must be the converged one
	local d
	d=$(digest)
	echo "$1 digest=$d" >>"$tmp/digests"
	[[ $d == "$expected" ]] || { log "$1 left digest $d, want $expected (users-current-ad.ldif)"; exit 1; }
}

# --- first publish ----------------------------------------------------------------------------
: >"$tmp/runs"
: >"$tmp/split"
for ((r = 1; r <= ROUNDS; r++)); do
	reset
	measure ldapmodify "$r" ldapmodify "${AUTH[@]}" -f "$changes"
	check ldapmodify

	reset
	rm -rf "$CERTGAL_CACHE_DIR" && cp -a "$tmp/cache-dry" "$CERTGAL_CACHE_DIR"
	measure certgal "$r" "$B/certgal" sync -config "$CFG"
	check certgal
	grep 'pass finished' "$tmp/cmd.log" >>"$tmp/passlog"

	reset
	rm -rf "$CERTGAL_CACHE_DIR"
	measure certgal-nocache "$r" "$B/certgal" sync -config "$CFG"
	check certgal-nocache

	# Every other round in the reverse order, so a machine that slows down during a round does
	# not always hit the same connection counts.
	order=$WORKERS
	((r % 2)) || order=$(printf '%s\n' $WORKERS | tac | xargs)
	for w in $order; do
		reset
		rm -rf "$CERTGAL_CACHE_DIR" && cp -a "$tmp/cache-dry" "$CERTGAL_CACHE_DIR"
		measure "workers-$w" "$r" "$B/passes" -config "$CFG" -passes 1 -workers "$w"
		grep -q "entries=$entries " "$tmp/cmd.out" || { log "passes -workers $w:"; cat "$tmp/cmd.out" >&2; exit 1; }
		check "workers-$w"
	done
	log "publish round $r: $(grep -c "round=$r " "$tmp/runs") runs; load $(load)"
done

# --- no-op pass -------------------------------------------------------------------------------
# The directory the last publish left: converged. certgal's plan must be empty.
"$B/certgal" sync -config "$CFG" >/dev/null 2>&1 # leaves the cache of a run
cp -a "$CERTGAL_CACHE_DIR" "$tmp/cache-run"
ad ldapsearch -b "$OU" -E pr=1000/noprompt "$PEOPLE" userCertificate userSMIMECertificate mail proxyAddresses >/dev/null
for ((r = 1; r <= ROUNDS; r++)); do
	measure ldapsearch "$r" ldapsearch "${AUTH[@]}" -b "$OU" -E pr=1000/noprompt "$PEOPLE" \
		userCertificate userSMIMECertificate mail proxyAddresses
	rm -rf "$CERTGAL_CACHE_DIR" && cp -a "$tmp/cache-run" "$CERTGAL_CACHE_DIR"
	measure noop "$r" "$B/certgal" sync -config "$CFG"
	grep -q '^plan: 0 to add, 0 to remove' "$tmp/cmd.out" || { log "no-op pass changed something:"; tail -3 "$tmp/cmd.out" >&2; exit 1; }
	rm -rf "$CERTGAL_CACHE_DIR"
	measure noop-nocache "$r" "$B/certgal" sync -config "$CFG"
done
check noop
dc_stop
dc_up=""

# --- report -----------------------------------------------------------------------------------
# f KIND FIELD: the median of FIELD over KIND's runs.
f() { awk -v k="$1" -v f="$2" '$1 == k { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$tmp/runs" | median; }
cpu() { calc "$(f "$1" user) + $(f "$1" sys)"; }
pages=$(((N + 999) / 1000))
# rt KIND SEARCHES: LDAP round trips, binds + searches + modifies.
rt() { calc "$(f "$1" binds) + $2 + $(f "$1" modifies)"; }
row() { # row LABEL KIND SEARCHES
	printf '%-40s %7.2f %9.0f %9.2f %9.2f %9.0f %6.0f %8.0f\n' "$1" "$(f "$2" wall)" "$(calc "$entries / $(f "$2" wall)")" \
		"$(cpu "$2")" "$(f "$2" samba_cpu)" "$(f "$2" modifies)" "$(f "$2" binds)" "$(rt "$2" "$3")"
}

echo
echo "certgal on Active Directory: $N users, Samba $SAMBA_VERSION (samba -M $MODEL), $ROUNDS rounds (medians), $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load at end $(load)"
echo "load: ldapadd of $N users in $(printf '%.1f' "$load_s") s ($(calc "int($N / $load_s)") entries/s), samba CPU $(printf '%.1f' "$load_cpu") s"
echo
echo "first publish of $entries certificates        wall s entries/s client CPU samba CPU  modifies  binds  round trips"
row "ldapmodify -f (1 connection)" ldapmodify 0
row "certgal sync after a dry run" certgal $((pages + 1))
row "certgal sync, no cache" certgal-nocache $((pages + 1))
for w in $WORKERS; do
	row "certgal, $w write connections (passes)" "workers-$w" $((pages + 1))
done
echo
echo "no-op pass (converged, $N users)             wall s           client CPU samba CPU  modifies  binds  round trips"
nrow() { printf '%-40s %7.2f %9s %9.2f %9.2f %9.0f %6.0f %8.0f\n' "$1" "$(f "$2" wall)" "" "$(cpu "$2")" "$(f "$2" samba_cpu)" \
	"$(f "$2" modifies)" "$(f "$2" binds)" "$(rt "$2" "$3")"; }
nrow "ldapsearch -E pr=1000/noprompt" ldapsearch "$pages"
nrow "certgal sync, cache of a run" noop $((pages + 1))
nrow "certgal sync, no cache" noop-nocache $((pages + 1))
echo
lm=$(f ldapmodify wall)
ls=$(f ldapsearch wall)
echo "ratios (time, certgal / reference; < 1 is certgal faster):"
printf '  first publish, after a dry run / ldapmodify   %.2fx  (wall; client CPU %.2fx, samba CPU %.2fx)\n' \
	"$(calc "$(f certgal wall) / $lm")" "$(calc "$(cpu certgal) / $(cpu ldapmodify)")" "$(calc "$(f certgal samba_cpu) / $(f ldapmodify samba_cpu)")"
printf '  first publish, no cache / ldapmodify          %.2fx\n' "$(calc "$(f certgal-nocache wall) / $lm")"
for w in $WORKERS; do
	printf '  first publish, %2d write connections / ldapmodify %.2fx\n' "$w" "$(calc "$(f "workers-$w" wall) / $lm")"
done
printf '  no-op pass, cache of a run / ldapsearch       %.2fx  (client CPU %.2fx, samba CPU %.2fx)\n' \
	"$(calc "$(f noop wall) / $ls")" "$(calc "$(cpu noop) / $(cpu ldapsearch)")" "$(calc "$(f noop samba_cpu) / $(f ldapsearch samba_cpu)")"
printf '  no-op pass, no cache / ldapsearch             %.2fx\n' "$(calc "$(f noop-nocache wall) / $ls")"
echo "every publish left the directory certgal-gen calls converged (digest $expected); searches: $pages pages, +1 rootDSE read for certgal"
echo "busy machine? load average at start of each round is in the log lines above; the lead reruns on a quiet machine"
echo
echo "samba CPU by process in each run, seconds (ldap(N) are prefork's LDAP workers; processes under 0.1 s left out):"
awk '$4 >= 0.1 { k = $1 " " $2; if (!(k in s)) o[++n] = k; s[k] = s[k] " " $3 ")=" $4 }
	END { for (i = 1; i <= n; i++) printf "  %-28s%s\n", o[i], s[o[i]] }' "$tmp/split"
echo
echo "raw runs:"
sed 's/^/  /' "$tmp/runs"
