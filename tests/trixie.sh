#!/bin/bash
# make trixie-check: README's two commands, as a newcomer runs them, on a fresh Debian 13 (trixie)
# on this machine's kernel: a root built by mmdebstrap (the bare root is kept in
# build/trixie/root.tar until the recipe changes; each run unpacks a fresh copy), this checkout
# copied in, and the two commands run in it, in a mount namespace of their own, as root.
# Environment: TRIXIE_KEEP=1 keeps the unpacked root for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

B=build/trixie
die() {
	echo "trixie-check: $*" >&2
	exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root (a chroot, and the tests need root)"
command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: run 'make test-deps'"

# The bare root, built once: only what a fresh Debian 13 machine has (apt, no make).
build_root() {
	echo "trixie-check: building a Debian 13 root in $B/root.tar (about a minute)" >&2
	mmdebstrap --quiet --variant=apt --format=tar trixie "$B/root.tar.tmp" ||
		die "mmdebstrap failed (is Debian's archive reachable?)"
	mv "$B/root.tar.tmp" "$B/root.tar"
	echo "$KEY" >"$B/key"
}
KEY=$(declare -f build_root | sha256sum | cut -c1-16)
mkdir -p "$B"
if [ ! -s "$B/root.tar" ] || [ "$(cat "$B/key" 2>/dev/null)" != "$KEY" ]; then
	build_root
fi

root=$B/root
rm -rf "$root"
mkdir -p "$root"
tar -C "$root" -xf "$B/root.tar"
mkdir -p "$root/src"
git ls-files -z | xargs -0 cp --parents -t "$root/src"
cp /etc/resolv.conf "$root/etc/resolv.conf"

# README's two commands, as README has them (the first code block: a command per line, before
# its comment).
mapfile -t cmds < <(awk '/^```sh$/ {on = 1; next} /^```$/ && on {exit} on {sub(/ +#.*/, ""); print}' README.md)
[ "${#cmds[@]}" -eq 2 ] || die "README.md does not start with two commands"

status=0
for c in "${cmds[@]}"; do
	echo "trixie-check: running: $c" >&2
	start=$(date +%s)
	R=$root CMD=$c unshare -m bash -c '
		mount --make-rprivate /
		mount --bind "$R" "$R" # / in the chroot is a mount point, as ip netns exec needs
		for d in proc sys dev; do mount --rbind "/$d" "$R/$d"; done
		mount -t tmpfs tmpfs "$R/run"
		mkdir -p "$R/run/netns" "$R/run/lock"
		exec chroot "$R" bash -c "cd /src && $CMD"' || status=$?
	echo "trixie-check: status $status after $(($(date +%s) - start)) s: $c" >&2
	[ "$status" -eq 0 ] || break
done
[ -n "${TRIXIE_KEEP:-}" ] || rm -rf "$root"
[ "$status" -eq 0 ] || die "a command of README failed on Debian 13 (status $status)"
echo "trixie-check: README's two commands pass on Debian 13"
