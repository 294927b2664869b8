#!/bin/bash
# mkimage.sh OUT.tar: a container image's root filesystem as a tarball, for podman import and
# docker import (no registry is reachable in the tests): busybox (sh, nslookup, wget, sleep...)
# and this host's curl with the libraries it links, nothing else.
set -euo pipefail
out=$1
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,etc,tmp,proc,sys,dev}
cp /bin/busybox "$root/bin/busybox"
for c in sh nslookup wget cat ls sleep echo true false env grep seq; do
	ln -s busybox "$root/bin/$c"
done
cp /usr/bin/curl "$root/bin/curl"
ldd /usr/bin/curl | awk '/=> \// {print $3} /^\t\/.*ld-linux/ {print $1}' | while read -r lib; do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done
echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
tar -C "$root" -cf "$out" .
