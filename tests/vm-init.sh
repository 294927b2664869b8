#!/bin/bash
# /init of the vm-check VM (see tests/vm.sh): mount what a Debian host has (pure cgroup2 at
# /sys/fs/cgroup, as systemd mounts it), run the unit tests and the bats suites, print a verdict,
# power off. Everything goes to the serial console.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C.UTF-8
export DG_TEST_VM=1 # a disposable machine: tests/escape.bats may move into the real cgroup2 root

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
ln -sf /proc/self/fd /dev/fd
hostname dg-vm
ip link set lo up
printf '127.0.0.1 localhost\n::1 localhost\n' >/etc/hosts
printf 'nameserver 192.0.2.53\n' >/etc/resolv.conf # every port-53 packet goes to the proxy

passed=0 failed=0 skipped=0
echo "vm: kernel $(uname -r), $(nproc) CPUs, cgroup mounts:" \
	"$(awk '$3 ~ /^cgroup/ {printf "%s(%s) ", $2, $3}' /proc/self/mounts)"
cd /work || exit 1
# The package of make deb, when given: installed, and what the suites run (DG_BIN).
dg=/work/deployguard
if [ -e deployguard.deb ]; then
	if dpkg -i deployguard.deb >/tmp/dpkg.log 2>&1; then
		echo "ok - package: dpkg -i $(dpkg-deb -f deployguard.deb Package Version | tr '\n' ' ')"
		passed=$((passed + 1))
		dg=/usr/sbin/deployguard
		export DG_BIN=$dg
	else
		echo "not ok - package: dpkg -i deployguard.deb"
		sed 's/^/# /' /tmp/dpkg.log
		failed=$((failed + 1))
	fi
fi
"$dg" --check 2>&1 | sed 's/^/vm: /'

for t in $(cat .vm-units); do
	if ./"$t" >/tmp/unit.log 2>&1; then
		echo "ok - unit: $t"
		passed=$((passed + 1))
	else
		echo "not ok - unit: $t"
		sed 's/^/# /' /tmp/unit.log
		failed=$((failed + 1))
	fi
done

# Count deployguard's starts (each compiles the programs: about 6 s under TCG).
mv "$dg" "$dg.bin"
printf '#!/bin/bash\necho >>/tmp/dg-starts\nexec -a "$0" %s.bin "$@"\n' "$dg" >"$dg"
chmod 0755 "$dg"
start=$(date +%s)
# shellcheck disable=SC2046 # the suites are a word list
filter=$(cat .vm-filter)
# A run that goes quiet for 4 minutes says what every process waits on, once per quiet spell:
# a stall that outlives the tests' own timeouts leaves its cause on the console.
(
	last=-1 quiet=0
	while sleep 30; do
		size=$(stat -c %s /tmp/bats.log 2>/dev/null || echo 0)
		if [ "$size" != "$last" ]; then last=$size quiet=0; continue; fi
		quiet=$((quiet + 30))
		[ "$quiet" -eq 240 ] || continue
		echo "vm: no test output for $quiet s; the processes:"
		ps -eo pid,ppid,stat,wchan:32,etime,args | cut -c1-200 | sed 's/^/vm:   /'
	done
) &
stall_watch=$!
bats --tap --timing ${filter:+-f "$filter"} $(cat .vm-suites) 2>&1 | tee /tmp/bats.log
st=${PIPESTATUS[0]}
kill "$stall_watch"
skipped=$(grep -cE '^ok [0-9]+ .*# skip' /tmp/bats.log)
passed=$((passed + $(grep -cE '^ok [0-9]+ ' /tmp/bats.log) - skipped))
failed=$((failed + $(grep -cE '^not ok ' /tmp/bats.log || true)))
# bats that failed without a failed test (a suite missing, a setup_file that failed) fails too
if [ "$st" -ne 0 ] && [ "$(grep -cE '^not ok ' /tmp/bats.log || true)" -eq 0 ]; then
	echo "not ok - bats exited $st without a failed test"
	failed=$((failed + 1))
fi
echo "vm: bats took $(($(date +%s) - start)) s, $(wc -l </tmp/dg-starts 2>/dev/null || echo 0) deployguard starts"
echo "vm-check: $passed passed, $failed failed, $skipped skipped"
sync
echo o >/proc/sysrq-trigger
sleep 10
