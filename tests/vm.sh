#!/bin/bash
# make vm-check: run the unit tests and the integration suites on Debian 12's own kernel (6.1),
# with pure cgroup2, in qemu. Nothing leaves the VM: it has no network device at all.
#
#   build/vm/rootfs.cpio  Debian 12 (mmdebstrap, minbase) with linux-image-amd64, its headers and
#                         what the tests run; kept until the package list below changes
#   build/vm/vmlinuz      that root's kernel
#   build/vm/run.cpio     this checkout (deployguard, tests, examples) and the .deb of make deb
#                         (VM_DEB), appended at each run
#
# The root filesystem is the initramfs: the kernel unpacks both archives into its rootfs and runs
# tests/vm-init.sh as /init, which prints the bats TAP lines and a last line
# "vm-check: N passed, N failed, N skipped" on the serial console, then powers off.
# Environment: VM_TIMEOUT (seconds, default 2700), VM_MEM (MiB, default 6144), VM_SUITES (the
# bats files, default all five), VM_FILTER (a bats -f regex, default none), VM_ACCEL (default
# tcg; kvm where it works), VM_KERNEL_ARGS (more kernel parameters, e.g. loglevel=7), VM_KERNEL
# (another Debian release whose newest kernel and headers to boot instead: bullseye, trixie, sid).
set -euo pipefail
cd "$(dirname "$0")/.."

# VM_ARCH=arm64: Debian 12's arm64 kernel and root in qemu-system-aarch64, deployguard built
# inside that root (qemu-user through binfmt_misc), for the smoke set (make vm-check-arm64).
VM_ARCH=${VM_ARCH:-amd64}
B=build/vm
[ "$VM_ARCH" = amd64 ] || B=build/vm-$VM_ARCH
VM_TIMEOUT=${VM_TIMEOUT:-2700}
VM_MEM=${VM_MEM:-6144}
VM_SUITES=${VM_SUITES:-tests/integration.bats tests/enforcement.bats tests/operations.bats tests/escape.bats tests/reports.bats tests/rehearse.bats tests/policy.bats tests/containers.bats tests/sidedoors.bats tests/history.bats}
# -enable-kvm hangs at boot under nested virtualisation: take KVM only when asked to.
VM_ACCEL=${VM_ACCEL:-tcg}
PKGS=linux-image-$VM_ARCH,linux-headers-$VM_ARCH,libbpfcc,libbpf1,bpftool,bats,dnsmasq-base,dnsutils
PKGS+=,iproute2,curl,python3,procps,util-linux,kmod,libcmocka0,libasan8,libubsan1,graphviz,libsqlite3-0,sqlite3,publicsuffix,libpq5
if [ "$VM_ARCH" = amd64 ]; then
	PKGS+=,podman,runc,crun,conmon,netavark,iptables,busybox-static,docker.io,docker-registry,docker-compose
	PKGS+=,nodejs,fio,postgresql
	QEMU=(qemu-system-x86_64 -cpu max) CONSOLE=ttyS0
else # what building needs (in the root), and what the smoke set runs
	PKGS+=,make,gcc,libc6-dev,pkg-config,libbpfcc-dev,libbpf-dev,libsqlite3-dev,libpq-dev,libcmocka-dev
	QEMU=(qemu-system-aarch64 -M virt -cpu max) CONSOLE=ttyAMA0
fi

die() {
	echo "vm-check: $*" >&2
	exit 1
}

for t in mmdebstrap "${QEMU[0]}" cpio; do
	command -v "$t" >/dev/null || die "$t is missing: run 'make deps' (as root)"
done
[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap builds the root filesystem as root)"

# The root filesystem: built once, trimmed of what a test never reads (documentation, locales,
# kernel modules other than networking), as an uncompressed newc archive the kernel unpacks fast.
build_root() {
	local dir=$B/root
	rm -rf "$dir" "$B/rootfs.cpio" "$B/vmlinuz"
	mkdir -p "$dir"
	echo "vm-check: building the Debian 12 $VM_ARCH root filesystem in $dir (minutes)" >&2
	if [ "$VM_ARCH" != amd64 ]; then # the root's maintainer scripts run under qemu-user
		local h=qemu-${QEMU[0]#qemu-system-}
		[ -e /proc/sys/fs/binfmt_misc/register ] ||
			mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || true
		[ -e "/proc/sys/fs/binfmt_misc/$h" ] || update-binfmts --enable "$h" || true
		[ -e "/proc/sys/fs/binfmt_misc/$h" ] ||
			die "no binfmt_misc handler $h: install qemu-user-static and binfmt-support"
	fi
	local hook=() # under qemu-user an initramfs takes many minutes, and the VM boots without one
	[ "$VM_ARCH" = amd64 ] || hook=(--essential-hook='chroot "$1" dpkg-divert --quiet --local \
		--rename --add /usr/sbin/update-initramfs && ln -s /bin/true "$1/usr/sbin/update-initramfs"')
	mmdebstrap --quiet --variant=minbase --architectures="$VM_ARCH" "${hook[@]}" --include="$PKGS" \
		bookworm "$dir" ||
		die "mmdebstrap failed (is Debian's archive reachable? 'apt-get update' first)"
	cp "$dir"/boot/vmlinuz-* "$B/vmlinuz"
	rm -rf "$dir"/usr/share/{doc,man,info,locale} "$dir"/boot/initrd.img-*
	local mods
	mods=$(echo "$dir"/lib/modules/*)
	# networking, and what its modules need (nf_tables: libcrc32c, crc32c)
	find "$mods/kernel" -name '*.ko' ! -path '*/kernel/net/*' ! -path '*/kernel/lib/*' \
		! -path '*/kernel/crypto/*' ! -name veth.ko -delete
	chroot "$dir" depmod "$(basename "$mods")"
	(cd "$dir" && find . -xdev | cpio --quiet -o -H newc) >"$B/rootfs.cpio.tmp"
	mv "$B/rootfs.cpio.tmp" "$B/rootfs.cpio"
	[ "$VM_ARCH" != amd64 ] || rm -rf "$dir" # another architecture's builds deployguard in it
	echo "$KEY" >"$B/key"
}

# Another Debian release's kernel (VM_KERNEL: bullseye, trixie, sid...), resolved from that
# release's archive now, so that a new kernel is run the week it lands: its image, its modules
# (trimmed as above) and its header tree, as an archive unpacked over the Debian 12 root.
build_kernel() {
	local rel=$1 img ver common parts
	local dir=$PWD/$B/k-$rel # apt takes relative paths from /
	local a=(-o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache"
		-o Dir::State::Status=/dev/null -o Debug::NoLocking=1 -q)
	rm -rf "$dir" && mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/root"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
		"http://deb.debian.org/debian $rel main" >"$dir/sources.list"
	apt-get "${a[@]}" update >/dev/null || die "apt-get update for $rel failed"
	img=$(apt-cache "${a[@]}" depends linux-image-amd64 |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ {print $2; exit}')
	[ -n "$img" ] || die "no kernel image in $rel"
	ver=${img#linux-image-}
	ver=${ver%-unsigned}
	common=$(apt-cache "${a[@]}" depends "linux-headers-$ver" |
		awk '$1 == "Depends:" && $2 ~ /^linux-headers-.*-common/ {print $2; exit}')
	# newer releases split the image: its kernel and modules are packages of their own
	parts=$(apt-cache "${a[@]}" depends "$img" |
		awk -v v="-$ver" '$1 == "Depends:" && $2 ~ /^linux-[a-z]+-/ &&
			substr($2, length($2) - length(v) + 1) == v {print $2}')
	(cd "$dir" && apt-get "${a[@]}" download "$img" $parts "linux-headers-$ver" $common \
		>/dev/null) ||
		die "failed to download $rel's kernel $ver"
	for d in "$dir"/*.deb; do dpkg-deb -x "$d" "$dir/root"; done
	if [ -d "$dir/root/lib" ]; then # the root is merged-/usr: lib is a link there
		mkdir -p "$dir/root/usr/lib" && cp -a "$dir/root/lib/." "$dir/root/usr/lib/"
		rm -rf "$dir/root/lib"
	fi
	if [ -e "$dir/root/usr/lib/modules/$ver/vmlinuz" ]; then # where unstable puts it now
		mv "$dir/root/usr/lib/modules/$ver/vmlinuz" "$B/vmlinuz-$rel"
	else
		cp "$dir"/root/boot/vmlinuz-* "$B/vmlinuz-$rel"
	fi
	rm -rf "$dir"/root/boot "$dir"/root/usr/share
	find "$dir/root/usr/lib/modules/$ver/kernel" -name '*.ko*' ! -path '*/kernel/net/*' \
		! -path '*/kernel/lib/*' ! -path '*/kernel/crypto/*' ! -name 'veth.ko*' -delete
	ln -s usr/lib "$dir/root/lib" && depmod -b "$dir/root" "$ver" && rm "$dir/root/lib"
	(cd "$dir/root" && find . -xdev | cpio --quiet -o -H newc) >"$B/kernel-$rel.cpio"
	echo "$ver" >"$B/kernel-$rel.ver"
	rm -rf "$dir"
	echo "vm-check: $rel's kernel is $ver" >&2
}

# The cache is good while the package list and the recipe above are what built it.
KEY=$({ echo "$PKGS"; declare -f build_root; } | sha256sum | cut -c1-16)
mkdir -p "$B"
if [ ! -s "$B/rootfs.cpio" ] || [ ! -s "$B/vmlinuz" ] || [ "$(cat "$B/key" 2>/dev/null)" != "$KEY" ] ||
	{ [ "$VM_ARCH" != amd64 ] && [ ! -d "$B/root/usr" ]; }; then
	build_root
fi

# This checkout, as built here: the same Debian 12 libraries are in the VM.
tag=${VM_KERNEL:-bookworm}-$VM_ARCH # what this run boots: its files are its own
run=$B/run-$tag
rm -rf "$run"
mkdir -p "$run/work"
git ls-files -z | xargs -0 cp --parents -t "$run/work"
VM_UNITS=${VM_UNITS:-tests/test_policy tests/test_dns tests/test_proxy} # make's $(UNIT)
VM_TOOLS=${VM_TOOLS:-tests/tools/sysfw tests/tools/loadtable}        # and $(TOOLS)
if [ "$VM_ARCH" = amd64 ]; then
	for f in deployguard $VM_TOOLS $VM_UNITS; do
		[ -x "$f" ] || die "$f is not built: run 'make vm-check', which builds it"
		cp --parents "$f" "$run/work"
	done
else # built in the root, by its own compiler against its own libraries
	rm -rf "$B/root/src" && mkdir -p "$B/root/src"
	git ls-files -z | xargs -0 cp --parents -t "$B/root/src"
	echo "vm-check: building deployguard for $VM_ARCH in $B/root" >&2
	chroot "$B/root" make -s -C /src deployguard $VM_TOOLS $VM_UNITS >&2 ||
		die "the $VM_ARCH build failed"
	for f in deployguard $VM_TOOLS $VM_UNITS; do
		cp "$B/root/src/$f" "$run/work/$f"
	done
fi
# The package: /init installs it, and the suites run against the installed binary.
[ -z "${VM_DEB:-}" ] || cp "$VM_DEB" "$run/work/deployguard.deb"
install -m 0755 tests/vm-init.sh "$run/init"
printf '%s\n' "$VM_SUITES" >"$run/work/.vm-suites"
printf '%s\n' "$VM_UNITS" >"$run/work/.vm-units"
printf '%s\n' "${VM_FILTER:-}" >"$run/work/.vm-filter"
(cd "$run" && find . | cpio --quiet -o -H newc) >"$B/run-$tag.cpio"
kernel=$B/vmlinuz
if [ -n "${VM_KERNEL:-}" ] && [ "$VM_KERNEL" != bookworm ]; then
	build_kernel "$VM_KERNEL" # each run: the newest of that release
	kernel=$B/vmlinuz-$VM_KERNEL
	cat "$B/rootfs.cpio" "$B/kernel-$VM_KERNEL.cpio" "$B/run-$tag.cpio" >"$B/initrd-$tag"
else
	cat "$B/rootfs.cpio" "$B/run-$tag.cpio" >"$B/initrd-$tag"
fi
rm -rf "$run"

out=$B/console-$tag.log
# The TAP lines and the guest's own lines as they come, without the kernel's messages.
filter() { tr -d '\r' | grep --line-buffered -E '^(ok |not ok |1\.\.|# |vm: |vm-check: )'; }
# A VM that stops without a verdict (a guest panic: softlockup_panic turns a task stuck in the
# kernel into one, seen once with the world's dnsmasq on one vCPU for 2000 s; or one CI run
# that stopped during test 8 with no message kept) is booted once more, after printing the last
# lines of its console, kernel messages included, so that the cause is on record.
boot() {
	echo "vm-check: booting $(basename "$(readlink -f "$kernel")") under $VM_ACCEL," \
		"${VM_MEM} MiB, at most $VM_TIMEOUT s; console in $out" >&2
	set +e
	timeout --foreground -k 10 "$VM_TIMEOUT" "${QEMU[@]}" -accel "$VM_ACCEL" \
		-smp 2 -m "$VM_MEM" -kernel "$kernel" -initrd "$B/initrd-$tag" -nic none -display none \
		-monitor none -serial stdio -no-reboot -append "console=$CONSOLE cgroup_no_v1=all \
panic=-1 softlockup_panic=1 loglevel=3 mitigations=off ${VM_KERNEL_ARGS:-}" \
		</dev/null 2>&1 | tee "$out" | { filter || true; }
	st=${PIPESTATUS[0]}
	set -e
}
start=$(date +%s)
boot
last_lines() { tr -d '\r' <"$1" | tail -n 40 | sed 's/^/vm-check:   /' >&2; }
if [ "$st" -ne 124 ] && ! grep -q '^vm-check: [0-9]* passed' "$out"; then
	mv "$out" "$out.first"
	echo "vm-check: the VM stopped without a verdict (qemu status $st); its console ended:" >&2
	last_lines "$out.first"
	echo "vm-check: booting once more (the first console is in $out.first)" >&2
	boot
fi
rm -f "$B/initrd-$tag"
secs=$(($(date +%s) - start))
[ "$st" -ne 124 ] || die "the VM did not finish within $VM_TIMEOUT s (console: $out)"
[ "$st" -eq 0 ] || die "qemu failed with status $st (console: $out)"
verdict=$(tr -d '\r' <"$out" | grep -E '^vm-check: [0-9]+ passed' | tail -n1)
[ -n "$verdict" ] || { last_lines "$out"; die "the VM stopped without a verdict after $secs s (console: $out)"; }
n=${verdict#vm-check: }
[ "${n%% *}" -gt 0 ] 2>/dev/null || die "the VM ran no test: $verdict"
echo "vm-check: $secs s in the VM"
[[ "$verdict" == *" 0 failed, 0 skipped"* ]] || die "$verdict"
