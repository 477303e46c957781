#!/usr/bin/env bash
# Installs the Debian packages `make test` needs when any is missing (as root, Debian 12).
# The server start scripts install their own packages too; doing it once up front keeps the
# test timeouts for the tests.
set -euo pipefail
export PATH="$PATH:/usr/sbin:/sbin"
need=()
command -v openssl >/dev/null || need+=(openssl)
command -v slapd >/dev/null || need+=(slapd)
command -v ldapsearch >/dev/null || need+=(ldap-utils)
command -v promtool >/dev/null || need+=(prometheus)               # promtool checks deploy/prometheus
command -v systemd-analyze >/dev/null || need+=(systemd)           # verifies deploy/systemd
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
apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; }
