#!/usr/bin/env bash
# Start a private Samba AD DC for integration tests, in DIR, on loopback only.
#
#   testdata/samba/start.sh DIR        (stop it with testdata/samba/stop.sh DIR)
#
# Realm CORP.EXAMPLE.COM, domain CORP, base DN DC=corp,DC=example,DC=com. LDAP, Kerberos and
# DNS (no SMB), LDAPS on 127.0.0.1:636 with a throwaway CA made here (the certificate names
# 127.0.0.1, localhost and dc1.corp.example.com). Simple binds work only over LDAPS; SASL binds
# without sign or seal only over TLS ("ldap server require strong auth = allow_sasl_over_tls", as
# a Windows DC behaves). The KDC listens on 127.0.0.1:10088 (DIR/krb5.conf points at it) and the
# DNS server on 127.0.0.1:10053, off the standard ports so that they do not clash with a
# resolver or KDC of the machine. DNS holds dc1.corp.example.com A 127.0.0.1 and, for failover
# tests, a DC that is down (dns-records.py); the DC has the SPN ldap/dc1.corp.example.com.
#
# Environment:
#   ADMINPASS          Administrator's password (default: a fixed test password).
#   SAMBA_NO_INSTALL=1 fail instead of running apt-get when samba is missing.
#   SAMBA_MAX_RUNTIME  seconds after which samba ends by itself (default 5400), so a DC that a
#                      crashed test run leaked cannot hold ports 389/636 for ever.
#   XDG_CACHE_HOME     the provisioned snapshot is cached under
#                      ${XDG_CACHE_HOME:-/var/cache}/certgal-samba-snapshot.
#
# Writes DIR/env (shell-sourceable: AD_URL AD_BASE_DN AD_BIND_DN AD_BIND_PW AD_CA_FILE
# AD_OTHER_CA_FILE AD_REALM AD_DOMAIN AD_HOST AD_DNS_SERVER AD_KRB5_CONF AD_SMB_CONF SAMBA_PID)
# and prints it. The samba PID is also in DIR/samba.pid.
set -euo pipefail

usage() { echo "usage: $0 DIR" >&2; exit 2; }
[ $# -eq 1 ] || usage

ADMINPASS=${ADMINPASS:-CertGal.Test.2024-Pw}
SAMBA_MAX_RUNTIME=${SAMBA_MAX_RUNTIME:-5400}
REALM=CORP.EXAMPLE.COM
DOMAIN=CORP
HOSTNAME_DC=DC1 # fixed: the DC's name is stored in the database, so a snapshot must not depend on the machine's hostname
BASE_DN=DC=corp,DC=example,DC=com
# Bump when the provisioning recipe changes, so cached snapshots made by an older recipe are not reused.
RECIPE=2
PACKAGES=(samba samba-ad-provision samba-dsdb-modules samba-vfs-modules ldb-tools ldap-utils openssl)
DNS_PORT=10053
KDC_PORT=10088
KPASSWD_PORT=10464
# samba's LDAP server listens on the global catalog ports too
PORTS=(636 389 3268 3269 "$DNS_PORT" "$KDC_PORT" "$KPASSWD_PORT")

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2fs", b - a }'; }
log() { echo "start.sh: $*" >&2; }
alive() { # alive PID: running, not a zombie (a zombie still answers kill -0)
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "${st:0:1}" != Z ]
}

mkdir -p "$1"
DIR=$(cd "$1" && pwd)

# --- install -------------------------------------------------------------------------------
missing() {
	local p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || return 0
	done
	command -v samba >/dev/null && command -v samba-tool >/dev/null && command -v ldapsearch >/dev/null || return 0
	return 1
}
if missing; then
	if [ "${SAMBA_NO_INSTALL:-}" = 1 ]; then
		log "samba is not installed (SAMBA_NO_INSTALL=1): apt-get install ${PACKAGES[*]}"
		exit 3
	fi
	t0=$(now)
	log "installing ${PACKAGES[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y "${PACKAGES[@]}" >&2; then
		apt-get update >&2
		apt-get install -y "${PACKAGES[@]}" >&2
	fi
	# Debian's package enables (and, where policy-rc.d allows, starts) system samba services that
	# use /etc/samba. They must not hold our ports: stop and disable them where systemd runs.
	if [ -d /run/systemd/system ]; then
		systemctl disable --now samba-ad-dc.service smbd.service nmbd.service winbind.service >&2 2>/dev/null || true
	fi
	log "install took $(elapsed "$t0")"
fi
SAMBA_VERSION=$(samba --version | awk '{ print $2 }')

# --- ports ---------------------------------------------------------------------------------
command -v ss >/dev/null || log "warning: ss (iproute2) not found: cannot check that ports ${PORTS[*]} are free"
for port in "${PORTS[@]}"; do
	line=$(ss -Hltnp "sport = :$port" 2>/dev/null | head -n1 || true)
	if [ -n "$line" ]; then
		pid=$(printf '%s\n' "$line" | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2 || true)
		what=
		[ -z "$pid" ] || what=": $(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | sed 's/ *$//')"
		log "port $port is busy (held by PID ${pid:-unknown}$what); stop that server first (testdata/samba/stop.sh DIR for a test DC)"
		exit 1
	fi
done

if [ -e "$DIR/samba.pid" ] && alive "$(cat "$DIR/samba.pid")"; then
	log "$DIR already has a running samba (PID $(cat "$DIR/samba.pid")); stop it with stop.sh first"
	exit 1
fi

# --- provision, or copy the cached snapshot ------------------------------------------------
provision() { # provision TARGET
	local target=$1
	mkdir -p "$target/etc"
	# An empty smb.conf given with -s keeps samba-tool from reading the machine's /etc/samba/smb.conf.
	: >"$target/etc/smb.conf"
	samba-tool domain provision -s "$target/etc/smb.conf" \
		--realm="$REALM" --domain="$DOMAIN" --host-name="$HOSTNAME_DC" \
		--adminpass="$ADMINPASS" --server-role=dc --dns-backend=SAMBA_INTERNAL --use-rfc2307 \
		--targetdir="$target" \
		--option="interfaces=lo" --option="bind interfaces only=yes" \
		--option="server services=ldap kdc dns" >"$target/provision.log" 2>&1 || {
		cat "$target/provision.log" >&2
		return 1
	}
	# Samba's modules are for the system's python, whatever python3 comes first in PATH.
	/usr/bin/python3 "$(dirname "$0")/dns-records.py" "$target/private/sam.ldb" "${REALM,,}" >>"$target/provision.log" 2>&1 &&
		samba-tool spn add "ldap/${HOSTNAME_DC,,}.${REALM,,}" "$HOSTNAME_DC\$" -H "$target/private/sam.ldb" \
			>>"$target/provision.log" 2>&1 || {
		cat "$target/provision.log" >&2
		return 1
	}
}

key=$(printf '%s|%s|%s|%s' "$SAMBA_VERSION" "$RECIPE" "$ADMINPASS" "$HOSTNAME_DC" | sha256sum | cut -c1-16)
CACHE_ROOT=${XDG_CACHE_HOME:-/var/cache}/certgal-samba-snapshot
SNAP=$CACHE_ROOT/$SAMBA_VERSION-$key

for d in etc private state cache bind-dns; do
	if [ -e "$DIR/$d" ]; then
		log "$DIR already holds a samba instance ($DIR/$d exists): use an empty directory"
		exit 1
	fi
done

t0=$(now)
if mkdir -p "$CACHE_ROOT" 2>/dev/null && [ -w "$CACHE_ROOT" ]; then
	(
		# Serialise snapshot creation between concurrent start.sh runs.
		flock 9
		if [ ! -d "$SNAP" ]; then
			tmp=$(mktemp -d "$CACHE_ROOT/.provision.XXXXXX")
			trap 'rm -rf "$tmp"' EXIT
			tp=$(now)
			provision "$tmp"
			log "provisioned snapshot $SNAP in $(elapsed "$tp")"
			rm -f "$tmp/etc/smb.conf" # regenerated for each copy: it holds absolute paths
			mv "$tmp" "$SNAP"
			trap - EXIT
		fi
	) 9>"$CACHE_ROOT/.lock"
	cp -a "$SNAP/." "$DIR/"
	log "copied snapshot $SNAP in $(elapsed "$t0")"
else
	log "cache $CACHE_ROOT not writable: provisioning without a snapshot"
	provision "$DIR"
	log "provisioned in $(elapsed "$t0")"
fi

# --- TLS -----------------------------------------------------------------------------------
t0=$(now)
TLS=$DIR/tls
mkdir -p "$TLS"
(
	cd "$TLS"
	umask 077
	openssl_q() { openssl "$@" >/dev/null 2>&1 || { log "openssl $* failed"; openssl "$@"; }; }
	openssl_q req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=certgal test CA $$" -keyout ca.key -out ca.pem \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
	openssl_q req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-subj "/CN=localhost" -keyout server.key -out server.csr
	printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyAgreement" \
		"extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:${HOSTNAME_DC,,}.${REALM,,}" >server.ext
	openssl_q x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
		-extfile server.ext -out server.pem
	# A CA that did not sign the server's certificate, for "wrong ca_file is refused" tests.
	openssl_q req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
		-subj "/CN=certgal unrelated CA $$" -keyout other-ca.key -out other-ca.pem
	rm -f server.csr server.ext ca.srl
	chmod 0600 server.key ca.key other-ca.key # samba refuses a key file others can read
	chmod 0644 ca.pem server.pem other-ca.pem
)
log "TLS material in $(elapsed "$t0")"

# --- smb.conf ------------------------------------------------------------------------------
# Written whole here (not taken from provision), so every path points into DIR and nothing points
# at the machine's /etc/samba, /run/samba or /var/log/samba.
mkdir -p "$DIR/run" "$DIR/log" "$DIR/cache"
cat >"$DIR/etc/smb.conf" <<EOF
# Generated by testdata/samba/start.sh for a test DC; nothing here is for production.
[global]
	netbios name = $HOSTNAME_DC
	workgroup = $DOMAIN
	realm = $REALM
	server role = active directory domain controller
	server services = ldap kdc dns
	dns port = $DNS_PORT
	krb5 port = $KDC_PORT
	kpasswd port = $KPASSWD_PORT
	ldap server require strong auth = allow_sasl_over_tls
	interfaces = lo
	bind interfaces only = yes
	private dir = $DIR/private
	lock directory = $DIR
	state directory = $DIR/state
	cache directory = $DIR/cache
	binddns dir = $DIR/bind-dns
	pid directory = $DIR/run
	ncalrpc dir = $DIR/run/ncalrpc
	winbindd socket directory = $DIR/run/winbindd
	ntp signd socket directory = $DIR/run/ntp_signd
	log file = $DIR/log/samba.log
	logging = file
	max log size = 0
	idmap_ldb:use rfc2307 = yes
	tls enabled = yes
	tls keyfile = $TLS/server.key
	tls certfile = $TLS/server.pem
	tls cafile = $TLS/ca.pem

[sysvol]
	path = $DIR/state/sysvol
	read only = no

[netlogon]
	path = $DIR/state/sysvol/corp.example.com/scripts
	read only = no
EOF

# For Kerberos clients: the KDC by address, so that no DNS lookup of the realm is needed.
cat >"$DIR/krb5.conf" <<EOF
[libdefaults]
	default_realm = $REALM
	dns_lookup_realm = false
	dns_lookup_kdc = false
	udp_preference_limit = 1
[realms]
	$REALM = {
		kdc = 127.0.0.1:$KDC_PORT
	}
[domain_realm]
	.${REALM,,} = $REALM
	${REALM,,} = $REALM
EOF

# --- start ---------------------------------------------------------------------------------
t0=$(now)
# -F: stay in the foreground, so $! is samba's own PID (not -i: that ends samba when its stdin
# closes; not -D: the PID would only be known from a file). -F keeps the caller's process group, so
# setsid gives samba its own, which stop.sh signals whole; setsid execs in place (no fork) because a
# background job of a non-interactive shell is not a group leader. stop.sh recognises the process
# by its standard output, DIR/log/samba.out.
setsid samba -s "$DIR/etc/smb.conf" -F -M single \
	--maximum-runtime="$SAMBA_MAX_RUNTIME" </dev/null >"$DIR/log/samba.out" 2>&1 &
SAMBA_PID=$!
echo "$SAMBA_PID" >"$DIR/samba.pid"

show_logs() {
	log "--- $DIR/log/samba.out"
	cat "$DIR/log/samba.out" >&2 || true
	log "--- $DIR/log/samba.log"
	tail -n 100 "$DIR/log/samba.log" >&2 || true
}

deadline=$(($(date +%s) + 30))
until LDAPTLS_CACERT="$TLS/ca.pem" LDAPTLS_REQCERT=demand ldapsearch -H ldaps://127.0.0.1 -x \
	-o nettimeout=2 -b '' -s base namingContexts >/dev/null 2>&1; do
	if ! alive "$SAMBA_PID"; then
		log "samba (PID $SAMBA_PID) exited before answering on ldaps://127.0.0.1:636"
		show_logs
		exit 1
	fi
	if [ "$(date +%s)" -ge "$deadline" ]; then
		log "samba (PID $SAMBA_PID) did not answer on ldaps://127.0.0.1:636 within 30s"
		show_logs
		"$(dirname "$0")/stop.sh" "$DIR" >&2 || true
		exit 1
	fi
	sleep 0.1
done
log "samba answered in $(elapsed "$t0")"
# samba writes its own pidfile into "pid directory"; it must be the process we recorded.
if [ "$(cat "$DIR/run/samba.pid" 2>/dev/null)" != "$SAMBA_PID" ]; then
	log "samba's pidfile $DIR/run/samba.pid says $(cat "$DIR/run/samba.pid" 2>/dev/null), expected $SAMBA_PID"
	"$(dirname "$0")/stop.sh" "$DIR" >&2 || true
	exit 1
fi

q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
	echo "AD_URL=$(q ldaps://127.0.0.1:636)"
	echo "AD_BASE_DN=$(q "$BASE_DN")"
	echo "AD_BIND_DN=$(q "CN=Administrator,CN=Users,$BASE_DN")"
	echo "AD_BIND_PW=$(q "$ADMINPASS")"
	echo "AD_CA_FILE=$(q "$TLS/ca.pem")"
	echo "AD_OTHER_CA_FILE=$(q "$TLS/other-ca.pem")"
	echo "AD_REALM=$(q "$REALM")"
	echo "AD_DOMAIN=$(q "${REALM,,}")"
	echo "AD_HOST=$(q "${HOSTNAME_DC,,}.${REALM,,}")"
	echo "AD_DNS_SERVER=$(q "127.0.0.1:$DNS_PORT")"
	echo "AD_KRB5_CONF=$(q "$DIR/krb5.conf")"
	echo "AD_SMB_CONF=$(q "$DIR/etc/smb.conf")"
	echo "SAMBA_PID=$(q "$SAMBA_PID")"
} >"$DIR/env"
cat "$DIR/env"
