#!/usr/bin/env bash
# Start a private OpenLDAP slapd for tests, on loopback only, inside DIR.
#
# Usage: testdata/slapd/start.sh DIR
#
# Environment (all optional):
#   SUFFIX           database suffix (default dc=example,dc=com); first RDN must be dc=, o= or ou=
#   ROOTPW           password of cn=admin,<suffix> (default secret)
#   LDAP_PORT        port for ldap://  (default: a free port picked at random)
#   LDAPS_PORT       port for ldaps:// (default: a free port picked at random)
#   SLAPD_DEBUG      slapd -d level (default none: errors only; "stats" logs every operation)
#   SLAPD_OWNER_PID  if set, a watchdog stops slapd when that process exits (the Go helper sets it
#                    so a killed `go test` does not leave slapd running)
#   PRELOAD_LDIF     an LDIF of entries below the suffix (e.g. cmd/certgal-gen's users-*.ldif) that
#                    `slapadd -q` loads into the new database before slapd starts; ignored when DIR
#                    already holds a database
#   SLAPD_ACL        slapd.conf access lines put before the default rule (root writes, all read)
#
# It never touches the system instance (/etc/ldap/slapd.d, the init script, port 389): everything
# lives in DIR. On success it writes DIR/env (shell-sourceable) and prints it. Stop with stop.sh DIR.
#
# Exit codes: 0 started; 1 failed (message on stderr); 3 slapd/ldap-utils/openssl missing and
# could not be installed (callers may skip instead of failing).
set -euo pipefail

die() { echo "start.sh: $*" >&2; exit 1; }
unavailable() { echo "start.sh: $*" >&2; exit 3; }

[[ $# -eq 1 ]] || { echo "usage: $0 DIR" >&2; exit 2; }

export PATH="$PATH:/usr/sbin:/sbin"

# --- prerequisites -------------------------------------------------------------------------------

missing_tools() {
	local t
	for t in slapd slapadd slappasswd ldapsearch openssl; do
		command -v "$t" >/dev/null 2>&1 || echo "$t"
	done
}

install_packages() {
	# A fresh install of Debian's slapd configures a system instance and starts it on port 389,
	# where CI's Samba DC must listen. The init script honours this sentinel file, so the system
	# instance never starts; our private instances do not use the init script at all.
	if [[ ! -e /var/lib/dpkg/info/slapd.list && ! -e /etc/ldap/noslapd ]]; then
		mkdir -p /etc/ldap
		touch /etc/ldap/noslapd
	fi
	local pkgs=(slapd ldap-utils openssl)
	echo "start.sh: installing ${pkgs[*]}" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}" >&2 ||
		{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}" >&2; }
}

m="$(missing_tools | tr '\n' ' ')"
if [[ -n "$m" ]]; then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		install_packages || unavailable "missing: ${m% }; apt-get install slapd ldap-utils openssl failed"
		m="$(missing_tools | tr '\n' ' ')"
	fi
	[[ -z "$m" ]] || unavailable "missing: ${m% } (install Debian packages slapd ldap-utils openssl, as root)"
fi

# --- directory and parameters --------------------------------------------------------------------

mkdir -p "$1"
DIR="$(cd "$1" && pwd -P)"
case "$DIR" in *[\"\\$'\n']*) die "DIR must not contain quotes, backslashes or newlines: $DIR" ;; esac

SUFFIX="${SUFFIX:-dc=example,dc=com}"
ROOTPW="${ROOTPW:-secret}"
ROOTDN="cn=admin,$SUFFIX"
DEBUG_LEVEL="${SLAPD_DEBUG:-none}"
case "$SUFFIX" in *[\"\\$'\n']*) die "SUFFIX must not contain quotes, backslashes or newlines" ;; esac
first_rdn="${SUFFIX%%,*}"
rdn_attr="${first_rdn%%=*}"
rdn_value="${first_rdn#*=}"
case "${rdn_attr,,}" in
dc) top_entry="objectClass: dcObject
objectClass: organization
dc: $rdn_value
o: $rdn_value" ;;
o) top_entry="objectClass: organization
o: $rdn_value" ;;
ou) top_entry="objectClass: organizationalUnit
ou: $rdn_value" ;;
*) die "SUFFIX must start with dc=, o= or ou=: $SUFFIX" ;;
esac

# Unix socket paths are limited to 107 bytes; very long temp dirs get a short side directory that
# stop.sh removes.
SOCK="$DIR/ldapi"
if ((${#SOCK} > 100)); then
	SOCK="$(mktemp -d /tmp/slapd-sock.XXXXXX)/ldapi"
	echo "${SOCK%/ldapi}" >"$DIR/sockdir"
fi

urlencode() {
	local s="$1" out="" c i
	for ((i = 0; i < ${#s}; i++)); do
		c="${s:i:1}"
		case "$c" in
		[A-Za-z0-9._~-]) out+="$c" ;;
		*) out+="$(printf '%%%02X' "'$c")" ;;
		esac
	done
	printf '%s' "$out"
}

# shellcheck source=../lib/proc.sh
. "$(dirname "$0")/../lib/proc.sh"
is_our_slapd() { proc_is "$1" slapd "$DIR/slapd.conf"; }

for f in slapd.pid slapd.launch.pid; do
	if [[ -s "$DIR/$f" ]] && is_our_slapd "$(cat "$DIR/$f")"; then
		die "a slapd (PID $(cat "$DIR/$f")) already runs from $DIR: stop.sh $DIR first"
	fi
done
rm -f "$DIR/slapd.pid" "$DIR/slapd.launch.pid"

# alive PID: the process exists and has not exited (a zombie has).
alive() {
	local state
	state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
	[[ -n "$state" && "$state" != Z ]]
}

# port_holder PORT prints "PID (command)" of the process listening on 127.0.0.1:PORT, if found.
port_holder() {
	local port="$1" line pid
	if command -v ss >/dev/null 2>&1; then
		line="$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n1)"
		pid="$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' <<<"$line")"
	else
		# Without iproute2: find the socket inode in /proc/net/tcp*, then the process holding it.
		local hex inode fd
		hex="$(printf '%04X' "$port")"
		inode="$(awk -v p=":$hex" '$2 ~ p"$" && $4 == "0A" {print $10; exit}' /proc/net/tcp /proc/net/tcp6 2>/dev/null)"
		if [[ -n "$inode" ]]; then
			for fd in /proc/[0-9]*/fd/*; do
				if [[ "$(readlink "$fd" 2>/dev/null)" == "socket:[$inode]" ]]; then
					pid="${fd#/proc/}" && pid="${pid%%/*}" && break
				fi
			done
		fi
	fi
	[[ -n "${pid:-}" ]] && printf '%s (%s)' "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null || echo '?')"
	return 0
}

port_busy() {
	local port="$1"
	if command -v ss >/dev/null 2>&1; then
		[[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
	fi
}

check_fixed_port() {
	local port="$1" who
	[[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "invalid port: $port"
	if port_busy "$port"; then
		who="$(port_holder "$port")"
		die "port $port is busy${who:+ (held by PID $who)}"
	fi
}

# pick_port [AVOID] prints a free port other than AVOID. Random ports below Linux's ephemeral range
# (32768-60999), so outgoing connections cannot take them between our check and slapd's bind; a
# race lost to another test is retried below.
pick_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
		[[ "$p" != "${1:-}" ]] || continue
		port_busy "$p" || { echo "$p"; return 0; }
	done
	die "no free loopback port found in 20000-31999"
}

# --- TLS material --------------------------------------------------------------------------------

mkdir -p "$DIR/tls" "$DIR/db"
if [[ ! -s "$DIR/tls/server.pem" ]]; then
	cat >"$DIR/tls/openssl.cnf" <<'EOF'
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = certgal test slapd CA
[ ca_ext ]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[ server_ext ]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
	(
		umask 077
		cd "$DIR/tls"
		openssl req -config openssl.cnf -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout ca.key -out ca.pem -days 3650 -extensions ca_ext -subj "/CN=certgal test slapd CA"
		openssl req -config openssl.cnf -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout server.key -out server.csr -subj "/CN=localhost"
		openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" \
			-days 825 -extfile openssl.cnf -extensions server_ext -out server.pem
		chmod 0644 ca.pem server.pem
		chmod 0600 server.key ca.key
	) >"$DIR/tls/openssl.log" 2>&1 || { cat "$DIR/tls/openssl.log" >&2; die "generating TLS material failed"; }
fi

# --- configuration -------------------------------------------------------------------------------

modules=""
for mod in back_mdb back_monitor; do
	# Debian builds mdb as a module (back_mdb.so) but monitor into slapd itself (no .so, see
	# slapd -VVV): load only what exists as a module.
	if [[ -e "/usr/lib/ldap/$mod.la" || -e "/usr/lib/ldap/$mod.so" ]]; then
		modules+="moduleload $mod"$'\n'
	fi
done

printf '%s' "$ROOTPW" >"$DIR/.rootpw"
chmod 0600 "$DIR/.rootpw"
ROOTPW_HASH="$(slappasswd -T "$DIR/.rootpw")"
rm -f "$DIR/.rootpw"

cat >"$DIR/slapd.conf" <<EOF
# Generated by testdata/slapd/start.sh for a throwaway test instance.
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema

modulepath /usr/lib/ldap
${modules}
pidfile "$DIR/slapd.pid"
argsfile "$DIR/slapd.args"

TLSCACertificateFile "$DIR/tls/ca.pem"
TLSCertificateFile "$DIR/tls/server.pem"
TLSCertificateKeyFile "$DIR/tls/server.key"

database mdb
suffix "$SUFFIX"
directory "$DIR/db"
maxsize 1073741824
dbnosync
rootdn "$ROOTDN"
rootpw $ROOTPW_HASH
index objectClass eq
index mail eq
# SLAPD_ACL: a test's access lines, e.g. a service account that may write but on one entry.
${SLAPD_ACL:-}
# root over ldapi:// (ldapmodify -Y EXTERNAL -H "\$LDAPI_URL") may write, for debugging by hand.
access to * by dn.exact="gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth" manage by * read
# Like Active Directory's MaxPageSize: at most 1000 entries unpaged, unlimited in total when paging.
# The rootdn is exempt from limits; bind as another DN to test paging against them.
sizelimit size.soft=1000 size.prtotal=unlimited

database monitor
access to * by dn.exact="$ROOTDN" read by * none
EOF

# -u: check syntax without opening the (not yet created) database.
if ! out="$(slapd -Tt -u -f "$DIR/slapd.conf" 2>&1)"; then
	echo "$out" >&2
	die "slapd config test failed for $DIR/slapd.conf (output above)"
fi

# base.ldif doubles as the marker that the database is loaded: a restart from the same DIR keeps data.
if [[ ! -e "$DIR/base.ldif" ]]; then
	cat >"$DIR/base.ldif.tmp" <<EOF
dn: $SUFFIX
$top_entry

dn: ou=people,$SUFFIX
objectClass: organizationalUnit
ou: people
EOF
	if ! out="$(slapadd -q -f "$DIR/slapd.conf" -b "$SUFFIX" -l "$DIR/base.ldif.tmp" 2>&1)"; then
		echo "$out" >&2
		die "loading base LDIF failed"
	fi
	if [[ -n "${PRELOAD_LDIF:-}" ]]; then
		if ! out="$(slapadd -q -f "$DIR/slapd.conf" -b "$SUFFIX" -l "$PRELOAD_LDIF" 2>&1)"; then
			echo "$out" >&2
			die "loading PRELOAD_LDIF $PRELOAD_LDIF failed"
		fi
	fi
	mv "$DIR/base.ldif.tmp" "$DIR/base.ldif"
fi

# --- start ---------------------------------------------------------------------------------------

LDAPI_URL="ldapi://$(urlencode "$SOCK")"
[[ -z "${LDAP_PORT:-}" ]] || check_fixed_port "$LDAP_PORT"
[[ -z "${LDAPS_PORT:-}" ]] || check_fixed_port "$LDAPS_PORT"

started=""
for attempt in 1 2 3; do
	P1="${LDAP_PORT:-$(pick_port)}"
	P2="${LDAPS_PORT:-$(pick_port "$P1")}"
	[[ "$P1" != "$P2" ]] || die "LDAP_PORT and LDAPS_PORT must differ"
	LDAP_URL="ldap://127.0.0.1:$P1"
	LDAPS_URL="ldaps://127.0.0.1:$P2"
	rm -f "$SOCK"
	: >"$DIR/slapd.log"
	# Foreground mode (-d) so $! is slapd's own PID; all descriptors are redirected so that callers
	# reading our stdout (exec.Cmd.Output) do not wait for slapd.
	slapd -f "$DIR/slapd.conf" -h "$LDAP_URL/ $LDAPS_URL/ $LDAPI_URL" -d "$DEBUG_LEVEL" \
		</dev/null >>"$DIR/slapd.log" 2>&1 &
	SLAPD_PID=$!
	echo "$SLAPD_PID" >"$DIR/slapd.launch.pid"

	deadline=$((SECONDS + 10))
	while ((SECONDS < deadline)); do
		# Not is_our_slapd: right after the fork the child may not have exec'd slapd yet.
		alive "$SLAPD_PID" || break
		if ldapsearch -x -LLL -o nettimeout=1 -H "$LDAP_URL" -b '' -s base '(objectClass=*)' 1.1 >/dev/null 2>&1; then
			started=yes
			break
		fi
		sleep 0.05
	done
	[[ -z "$started" ]] || break

	if alive "$SLAPD_PID"; then
		kill -TERM "$SLAPD_PID" 2>/dev/null || true
		echo "start.sh: slapd (PID $SLAPD_PID) did not answer on $LDAP_URL within 10 s; log $DIR/slapd.log:" >&2
		cat "$DIR/slapd.log" >&2
		exit 1
	fi
	wait "$SLAPD_PID" 2>/dev/null || true
	rm -f "$DIR/slapd.launch.pid"
	if grep -q 'Address already in use' "$DIR/slapd.log"; then
		if [[ -n "${LDAP_PORT:-}${LDAPS_PORT:-}" || $attempt -eq 3 ]]; then
			cat "$DIR/slapd.log" >&2
			who1="$(port_holder "$P1")"
			who2="$(port_holder "$P2")"
			die "port busy: $P1${who1:+ (held by PID $who1)} or $P2${who2:+ (held by PID $who2)}"
		fi
		continue # lost a race for a random port: pick others
	fi
	echo "start.sh: slapd exited during startup; log $DIR/slapd.log:" >&2
	cat "$DIR/slapd.log" >&2
	exit 1
done

if [[ -n "${SLAPD_OWNER_PID:-}" ]]; then
	proc_watchdog "$SLAPD_OWNER_PID" "$SLAPD_PID" slapd "$DIR/slapd.conf" TERM
fi

{
	echo "LDAP_URL=$(q "$LDAP_URL")"
	echo "LDAPS_URL=$(q "$LDAPS_URL")"
	echo "LDAPI_URL=$(q "$LDAPI_URL")"
	echo "LDAP_SUFFIX=$(q "$SUFFIX")"
	echo "LDAP_ROOTDN=$(q "$ROOTDN")"
	echo "LDAP_ROOTPW=$(q "$ROOTPW")"
	echo "LDAP_CA_FILE=$(q "$DIR/tls/ca.pem")"
	echo "SLAPD_PID=$(q "$SLAPD_PID")"
} >"$DIR/env"
cat "$DIR/env"
