#!/usr/bin/env bash
# `make test-deb`: lintian on the package, then install, upgrade, remove and purge it for real
# with dpkg, in a throwaway root: an overlay of this machine's / with its writes on a tmpfs, in a
# mount namespace of its own, so that nothing (user, files, dpkg's database) reaches the machine.
# Usage: test.sh CERTGAL.deb UPGRADE.deb (the same package at a higher version).
set -euo pipefail
cd "$(dirname "$0")/../.."
deb=$1 upgrade=$2

if [ "$(id -u)" -ne 0 ]; then
	echo "test-deb: needs root (mount namespace, overlay, chroot)" >&2
	[ "${CI:-}" = true ] && exit 1
	echo "test-deb: SKIPPED" >&2
	exit 0
fi
lintian --fail-on error,warning "$deb" 2> >(grep -v 'running with root privileges' >&2)

tmp=$(mktemp -d /tmp/certgal-deb.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
unshare --mount --propagation private bash -euo pipefail -c '
	tmp=$1; shift
	mount -t tmpfs tmpfs "$tmp"
	mkdir "$tmp/upper" "$tmp/work" "$tmp/root"
	mount -t overlay overlay -o lowerdir=/,upperdir="$tmp/upper",workdir="$tmp/work" "$tmp/root"
	mount --rbind /dev "$tmp/root/dev"
	mount -t proc proc "$tmp/root/proc"
	mount -t tmpfs tmpfs "$tmp/root/run"   # no /run/systemd/system: no systemctl from inside
	mkdir -p "$tmp/root/tmp/certgal-deb"
	cp "$1" "$tmp/root/tmp/certgal-deb/v1.deb"
	cp "$2" "$tmp/root/tmp/certgal-deb/v2.deb"
	cp testdata/deb/checks.sh deploy/systemd/certgal.service testdata/config/files/ca.pem testdata/config/files/ldap-ca.pem "$tmp/root/tmp/certgal-deb/"
	chroot "$tmp/root" /bin/bash /tmp/certgal-deb/checks.sh /tmp/certgal-deb
' unshare-root "$tmp" "$deb" "$upgrade"
