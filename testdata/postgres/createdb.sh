#!/usr/bin/env bash
# Create a database with a writer role (its owner, for the CA) and a read-only role (for
# certgal) in the cluster start.sh runs for DIR, and write DIR/NAME.env with both DSNs.
#
# Usage: testdata/postgres/createdb.sh DIR NAME
#
# The read-only role NAME_ro may connect and SELECT every table the writer creates, now or later
# (default privileges), and has default_transaction_read_only = on: a source that tried to write
# fails here as it would in production.
set -euo pipefail

die() { echo "postgres/createdb.sh: $*" >&2; exit 1; }
[[ $# -eq 2 ]] || { echo "usage: $0 DIR NAME" >&2; exit 2; }
DIR="$(cd "$1" && pwd -P)"
NAME="$2"
[[ "$NAME" =~ ^[a-z][a-z0-9_]*$ ]] || die "NAME must be a lower-case SQL identifier: $NAME"
[[ -s "$DIR/env" ]] || die "$DIR/env is missing: run start.sh $DIR first"
# shellcheck disable=SC1091
source "$DIR/env"

WPW="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
RPW="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
psql_super() {
	psql -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKET_DIR" -p "$PG_PORT" -U "$PG_SUPERUSER" "$@"
}
psql_super -d postgres >/dev/null <<SQL || die "creating roles and database $NAME failed"
CREATE ROLE "$NAME" LOGIN PASSWORD '$WPW';
CREATE ROLE "${NAME}_ro" LOGIN PASSWORD '$RPW';
ALTER ROLE "${NAME}_ro" SET default_transaction_read_only = on;
CREATE DATABASE "$NAME" OWNER "$NAME";
REVOKE ALL ON DATABASE "$NAME" FROM PUBLIC;
GRANT CONNECT ON DATABASE "$NAME" TO "$NAME", "${NAME}_ro";
SQL
psql_super -d "$NAME" >/dev/null <<SQL || die "granting ${NAME}_ro read access failed"
GRANT USAGE ON SCHEMA public TO "${NAME}_ro";
ALTER DEFAULT PRIVILEGES FOR ROLE "$NAME" IN SCHEMA public GRANT SELECT ON TABLES TO "${NAME}_ro";
SQL

q() { printf "'%s'" "${1//\'/\'\\\'\'}"; }
dsn() { printf 'postgres://%s:%s@%s:%s/%s?sslmode=disable' "$1" "$2" "$PG_HOST" "$PG_PORT" "$NAME"; }
{
	echo "DB_NAME=$(q "$NAME")"
	echo "DB_WRITER=$(q "$NAME")"
	echo "DB_WRITER_PASSWORD=$(q "$WPW")"
	echo "DB_WRITER_DSN=$(q "$(dsn "$NAME" "$WPW")")"
	echo "DB_RO=$(q "${NAME}_ro")"
	echo "DB_RO_PASSWORD=$(q "$RPW")"
	echo "DB_RO_DSN=$(q "$(dsn "${NAME}_ro" "$RPW")")"
} >"$DIR/$NAME.env"
chmod 0600 "$DIR/$NAME.env"
cat "$DIR/$NAME.env"
