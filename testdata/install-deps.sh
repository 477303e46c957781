#!/usr/bin/env bash
# Installs the Debian packages `make test` needs when any is missing (as root, Debian 12):
# openssl, slapd, Samba AD DC (testdata/samba/start.sh's packages), PostgreSQL, promtool and
# systemd-analyze (deploy/ checks), lintian (the Debian package) and chromium (the lookup page's browser test).
# The server start scripts install their own packages too; doing it once up front keeps the
# test timeouts for the tests, and CI does not depend on a test's install path.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"

# Keep in step with PACKAGES in testdata/samba/start.sh.
samba_packages=(samba samba-ad-provision samba-dsdb-modules samba-vfs-modules ldb-tools)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

need=()
command -v openssl >/dev/null || need+=(openssl)
[ -x /usr/share/easy-rsa/easyrsa ] || need+=(easy-rsa)            # certsource/catest's easy-rsa PKI
command -v curl >/dev/null || need+=(curl)                          # make demo's lookup
command -v slapd >/dev/null || need+=(slapd)
command -v ldapsearch >/dev/null || need+=(ldap-utils)
command -v promtool >/dev/null || need+=(prometheus)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v lintian >/dev/null || need+=(lintian)                    # make test-deb
command -v chromium >/dev/null || need+=(chromium)
[ -x /usr/lib/postgresql/15/bin/initdb ] || need+=(postgresql)
for p in "${samba_packages[@]}"; do
	installed "$p" || need+=("$p")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps.sh: missing ${need[*]}; run as root or install them" >&2
	exit 1
fi
echo "install-deps.sh: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Debian's slapd postinst would start a system instance on port 389 (where the Samba DC of the
# tests listens); its init script honours this file. The tests run private instances.
if [ ! -e /var/lib/dpkg/info/slapd.list ]; then mkdir -p /etc/ldap && touch /etc/ldap/noslapd; fi
# Nor a system PostgreSQL cluster: the tests run private ones (as testdata/postgres/start.sh).
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
	mkdir -p /etc/postgresql-common && echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
fi
# Nor may the samba, postgresql and prometheus packages start system daemons: a
# policy-rc.d that refuses every start, for the length of this install only, unless the machine
# has its own.
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 0755 "$policy" && own_policy=1
fi
cleanup() { [ -z "$own_policy" ] || rm -f "$policy"; }
trap cleanup EXIT
apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold "${need[@]}" >/dev/null 2>&1 ||
	{ apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold "${need[@]}" >/dev/null; }
# Where systemd runs, the units are enabled anyway: disable them so no reboot starts them.
if [ -d /run/systemd/system ]; then
	systemctl disable --now samba-ad-dc.service smbd.service nmbd.service winbind.service \
		postgresql.service prometheus.service >/dev/null 2>&1 || true
fi
