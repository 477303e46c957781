#!/usr/bin/env bash
# Runs as root inside testdata/deb/test.sh's throwaway root: dpkg installs, upgrades, removes and
# purges the package for real, and each step is checked. $1 holds v1.deb, v2.deb and test CAs.
set -euo pipefail
dir=$1
export PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive
fail=0
check() { # check DESCRIPTION COMMAND...: fail (and go on) unless COMMAND succeeds
	local what=$1; shift
	if ! "$@" >/dev/null 2>&1; then echo "FAIL: $what" >&2; fail=1; fi
}
stat_is() { [ "$(stat -c '%U:%G %a' "$1")" = "$2" ]; }
status_is() { [ "$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' certgal 2>/dev/null)" = "$1" ]; }
cfg=/etc/certgal/certgal.yaml

if getent passwd certgal >/dev/null || [ -e /etc/certgal ]; then
	echo "checks.sh: this machine has a certgal user or /etc/certgal already; the test cannot tell the package's apart" >&2
	exit 1
fi

# Install.
dpkg -i "$dir/v1.deb" </dev/null >/dev/null
v1=$(dpkg-deb -f "$dir/v1.deb" Version)
check "installed at $v1" status_is "ii $v1"
check "certgal version runs" sh -c "/usr/bin/certgal version | grep -qF 'version $v1'"
check "system user certgal with no shell" sh -c 'getent passwd certgal | grep -q ":/nonexistent:/usr/sbin/nologin$" && [ "$(id -u certgal)" -lt 1000 ]'
check "/var/cache/certgal is certgal's, 0700" stat_is /var/cache/certgal "certgal:certgal 700"
check "/etc/certgal is root:certgal 0750" stat_is /etc/certgal "root:certgal 750"
check "$cfg is root:certgal 0640" stat_is $cfg "root:certgal 640"
check "$cfg is a conffile" sh -c "dpkg-query -W -f='\${Conffiles}' certgal | grep -q ' $cfg '"
check "the man page is installed" test -s /usr/share/man/man1/certgal.1.gz
check "the configuration reference is installed" sh -c 'zcat /usr/share/doc/certgal/configuration.md.gz | grep -q "^# Configuration reference"'
check "the service is not enabled on install" test ! -e /etc/systemd/system/multi-user.target.wants/certgal.service
out=$(systemd-analyze verify /lib/systemd/system/certgal.service 2>&1) || true
check "systemd-analyze verify on the installed unit is silent${out:+: $out}" test -z "$out"
check "the unit runs /usr/bin/certgal as certgal" sh -c 'grep -q "^ExecStart=/usr/bin/certgal run -config /etc/certgal/certgal.yaml$" /lib/systemd/system/certgal.service && grep -q "^User=certgal$" /lib/systemd/system/certgal.service'
check "the unit is deploy/systemd's, hardening and all, for /usr/bin" sh -c "sed 's|/usr/local/bin/certgal|/usr/bin/certgal|g' $dir/certgal.service | cmp -s - /lib/systemd/system/certgal.service"

# The shipped configuration is an example: refused until its files exist ...
check "the example is refused as shipped" sh -c "/usr/bin/certgal check-config -config $cfg; [ \$? -eq 2 ]"
# ... and accepted, by the certgal user, once they do.
install -m 0644 "$dir/ca.pem" /etc/certgal/issuing-ca.pem
install -m 0644 "$dir/ldap-ca.pem" /etc/certgal/ldap-ca.pem
printf 'secret\n' >/etc/certgal/bind-password && chgrp certgal /etc/certgal/bind-password && chmod 0640 /etc/certgal/bind-password
check "certgal check-config accepts the filled-in example, as certgal" runuser -u certgal -- /usr/bin/certgal check-config -config $cfg

# Upgrade: the administrator's change to the conffile stays.
sed -i 's|^schedule: .*|schedule: "@every 7m"  # changed here|' $cfg
dpkg -i "$dir/v2.deb" </dev/null >/dev/null
v2=$(dpkg-deb -f "$dir/v2.deb" Version)
check "upgraded to $v2" status_is "ii $v2"
check "the upgrade kept the changed $cfg" grep -qF '"@every 7m"  # changed here' $cfg
check "the upgrade kept $cfg's owner and mode" stat_is $cfg "root:certgal 640"
check "the upgrade kept the cache directory" stat_is /var/cache/certgal "certgal:certgal 700"

# Remove: the package's files go, the configuration stays; purge takes that and the cache.
files=$(dpkg-query -L certgal | grep -v -e '^/etc/certgal' -e '^/\.$')
dpkg -r certgal </dev/null >/dev/null
check "removed, config kept" status_is "rc $v2"
for f in $files; do
	[ -d "$f" ] && continue # shared directories such as /usr/bin stay
	check "remove took $f" test ! -e "$f"
done
check "remove kept $cfg" test -e $cfg
rm -f /etc/certgal/issuing-ca.pem /etc/certgal/ldap-ca.pem /etc/certgal/bind-password
dpkg -P certgal </dev/null >/dev/null
check "purged" sh -c '! dpkg-query -W certgal 2>/dev/null | grep -q .'
check "purge took /etc/certgal" test ! -e /etc/certgal
check "purge took /var/cache/certgal" test ! -e /var/cache/certgal
for d in /usr/share/doc/certgal /lib/systemd/system/certgal.service /usr/share/lintian/overrides/certgal; do
	check "purge left nothing at $d" test ! -e $d
done

[ "$fail" = 0 ] && echo "deb: lintian clean; install, upgrade ($v1 -> $v2, changed config kept), remove and purge checked"
exit "$fail"
