#!/usr/bin/env bash
# Start a private PostgreSQL cluster for tests, on loopback only, with its data and Unix socket in
# a temporary directory.
#
# Usage: testdata/postgres/start.sh DIR
#
# Environment (all optional):
#   PG_PORT        TCP port on 127.0.0.1 (default: a free port picked at random)
#   PG_OWNER_PID   if set, a watchdog stops the server when that process exits (the Go helper sets
#                  it so a killed `go test` does not leave PostgreSQL running)
#
# The cluster lives in a directory of its own under /tmp (DIR/pgroot names it), because initdb
# refuses root and the postgres user must be able to reach it; a test's DIR usually is not
# reachable by other users. The superuser "postgres" has the password in DIR/env; databases and
# roles are made with createdb.sh. It never touches a system cluster (no pg_ctlcluster, no 5432).
# Stop with stop.sh DIR.
#
# On success it writes DIR/env (shell-sourceable) and prints it.
# Exit codes: 0 started; 1 failed (message on stderr); 3 PostgreSQL is missing and could not be
# installed (callers may skip).
set -euo pipefail

die() { echo "postgres/start.sh: $*" >&2; exit 1; }
unavailable() { echo "postgres/start.sh: $*" >&2; exit 3; }

[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }
export PATH="$PATH:/usr/sbin:/sbin"

# --- prerequisites -------------------------------------------------------------------------------

find_bin() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		if [[ -x "$d/initdb" && -x "$d/pg_ctl" && -x "$d/postgres" ]]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

if ! PGBIN="$(find_bin)" || ! command -v psql >/dev/null 2>&1; then
	[[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1 ||
		unavailable "PostgreSQL is not installed (install Debian package postgresql, as root)"
	# Debian's postinst would create and start a system cluster on port 5432: we want none.
	mkdir -p /etc/postgresql-common
	if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
		echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
	fi
	echo "postgres/start.sh: installing postgresql" >&2
	export DEBIAN_FRONTEND=noninteractive
	# confold: keep the createcluster.conf written above when the package brings its own.
	apt=(apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql)
	"${apt[@]}" >&2 || { apt-get update -q >&2 && "${apt[@]}" >&2; } ||
		unavailable "apt-get install postgresql failed"
	PGBIN="$(find_bin)" || unavailable "postgresql installed but no initdb found under /usr/lib/postgresql"
fi

mkdir -p "$1"
DIR="$(cd "$1" && pwd -P)"
if [[ -s "$DIR/pgroot" ]]; then
	die "a cluster was already started from $DIR: stop.sh $DIR first"
fi

# initdb and postgres run as the postgres user when we are root (they refuse root).
RUNAS=()
OWNER="$(id -un)"
if [[ $(id -u) -eq 0 ]]; then
	id postgres >/dev/null 2>&1 || die "no postgres user (install Debian package postgresql)"
	RUNAS=(runuser -u postgres --)
	OWNER=postgres
fi

PGROOT="$(mktemp -d /tmp/certgal-pg.XXXXXX)"
echo "$PGROOT" >"$DIR/pgroot"
chmod 0711 "$PGROOT"
mkdir -p "$PGROOT/data" "$PGROOT/run"
chown "$OWNER" "$PGROOT/data" "$PGROOT/run"
chmod 0700 "$PGROOT/data"
chmod 0755 "$PGROOT/run"

PASSWORD="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
printf '%s\n' "$PASSWORD" >"$PGROOT/pwfile"
chown "$OWNER" "$PGROOT/pwfile"
chmod 0600 "$PGROOT/pwfile"

# scram for TCP, so a wrong password fails as in production; the socket trusts the superuser
# only, for these scripts.
if ! out="$("${RUNAS[@]}" "$PGBIN/initdb" -D "$PGROOT/data" -U postgres --pwfile="$PGROOT/pwfile" \
	--auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 --no-sync 2>&1)"; then
	echo "$out" >&2
	die "initdb failed"
fi
rm -f "$PGROOT/pwfile"

# --- start ---------------------------------------------------------------------------------------

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Random ports below Linux's ephemeral range, like testdata/slapd/start.sh; a lost race is retried.
pick_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		port_busy "$p" || { echo "$p"; return 0; }
	done
	die "no free loopback port found in 20000-31999"
}

# shellcheck source=../lib/proc.sh
. "$(dirname "$0")/../lib/proc.sh"
is_our_postgres() { proc_is "$1" postgres "$PGROOT/data"; }

started=""
for attempt in 1 2 3; do
	PORT="${PG_PORT:-$(pick_port)}"
	: >"$PGROOT/postgres.log"
	chown "$OWNER" "$PGROOT/postgres.log"
	# fsync off: a test cluster is thrown away, and durability costs seconds per test.
	if "${RUNAS[@]}" "$PGBIN/pg_ctl" start -w -t 30 -D "$PGROOT/data" -l "$PGROOT/postgres.log" \
		-o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$PGROOT/run -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50" \
		>/dev/null 2>&1; then
		started=yes
		break
	fi
	if [[ -z "${PG_PORT:-}" && $attempt -lt 3 ]] && grep -q 'could not bind\|already in use' "$PGROOT/postgres.log"; then
		continue
	fi
	cat "$PGROOT/postgres.log" >&2
	die "pg_ctl start failed (log above)"
done
[[ -n "$started" ]] || die "PostgreSQL did not start"

PID="$(head -n1 "$PGROOT/data/postmaster.pid")"
is_our_postgres "$PID" || die "postmaster.pid names $PID, which is not our postgres"

if [[ -n "${PG_OWNER_PID:-}" ]]; then
	proc_watchdog "$PG_OWNER_PID" "$PID" postgres "$PGROOT/data" INT
fi

{
	echo "PG_HOST='127.0.0.1'"
	echo "PG_PORT=$(q "$PORT")"
	echo "PG_SOCKET_DIR=$(q "$PGROOT/run")"
	echo "PG_SUPERUSER='postgres'"
	echo "PG_PASSWORD=$(q "$PASSWORD")"
	echo "PG_BIN=$(q "$PGBIN")"
	echo "PG_DATA=$(q "$PGROOT/data")"
	echo "PG_LOG=$(q "$PGROOT/postgres.log")"
	echo "PG_PID=$(q "$PID")"
} >"$DIR/env"
chmod 0600 "$DIR/env"
cat "$DIR/env"
