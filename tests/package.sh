#!/bin/bash
# make check's packaging step: make install honours DESTDIR and PREFIX; the .deb of make deb
# holds the binary in /usr/sbin, the manual, the examples and deployguard@.service, depends on
# runtime libraries only, and is lintian clean (dist/lintian-overrides says why for the tags
# kept); deployguard@.service passes systemd-analyze verify. No root needed, nothing installed.
set -euo pipefail
cd "$(dirname "$0")/.."
W=$(mktemp -d /tmp/dg-package.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() {
	echo "package: $*" >&2
	exit 1
}

# make install into a staging root, and with a prefix of its own
make -s install DESTDIR="$W/root" PREFIX=/opt/dg >/dev/null
for f in opt/dg/sbin/deployguard opt/dg/share/man/man8/deployguard.8 \
	opt/dg/share/doc/deployguard/examples/deploy.sh opt/dg/lib/systemd/system/deployguard@.service \
	opt/dg/etc/deployguard/blocklist.txt; do
	[ -e "$W/root/$f" ] || fail "make install DESTDIR=... PREFIX=/opt/dg made no $f"
done
grep -q '^ExecStart=/opt/dg/sbin/deployguard ' "$W/root/opt/dg/lib/systemd/system/deployguard@.service" ||
	fail "the unit's ExecStart does not follow PREFIX"
outside=$(cd "$W/root" && find . -type f ! -path './opt/dg/*')
[ -z "$outside" ] || fail "make install PREFIX=/opt/dg wrote outside it: $outside"
grep -q ' -b /opt/dg/etc/deployguard/blocklist.txt' \
	"$W/root/opt/dg/lib/systemd/system/deployguard@.service" || fail "the unit's blocklist path"

# the unit, installed where it runs from (PREFIX only: systemd-analyze checks ExecStart exists)
make -s install PREFIX="$W/p" UNITDIR="$W/units" >/dev/null
printf '[Unit]\nDescription=a service to guard\n[Service]\nExecStart=/bin/sleep infinity\n' \
	>"$W/units/app.service"
out=$(MANPATH="$W/p/share/man" SYSTEMD_UNIT_PATH="$W/units:" \
	systemd-analyze verify deployguard@app.service 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"

# the package
rm -f build/deployguard_*.deb
make -s deb >/dev/null
deb=$(ls build/deployguard_*.deb)
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for f in ./usr/sbin/deployguard ./usr/share/man/man8/deployguard.8.gz \
	./usr/share/doc/deployguard/copyright ./usr/share/doc/deployguard/examples/blocklist.txt \
	./usr/lib/systemd/system/deployguard@.service; do
	grep -qx -- "$f" <<<"$contents" || fail "$deb has no $f"
done
dpkg-deb -I "$deb" postrm | grep -q '^	rm -rf /var/cache/deployguard$' ||
	fail "no postrm that removes the compile cache on purge"
depends=$(dpkg-deb -f "$deb" Depends)
for lib in libbpf1 libsqlite3-0 libpq5 libbpfcc libc6; do
	[[ "$depends" == *"$lib"* ]] || fail "Depends: $depends lacks $lib"
done
[[ "$depends" != *-dev* ]] || fail "Depends: $depends names a -dev package"
grep -q '^ExecStart=/usr/sbin/deployguard ' <(dpkg-deb --fsys-tarfile "$deb" |
	tar -xO ./usr/lib/systemd/system/deployguard@.service) || fail "the packaged unit's ExecStart"
lint=$(lintian --tag-display-limit 0 "$deb" 2>&1 | grep -v 'running with root privileges') ||
	true
[ -z "$lint" ] || fail "lintian: $lint"
echo "package: $deb ($(du -k "$deb" | cut -f1) KiB): install, unit, contents, Depends and lintian ok"
