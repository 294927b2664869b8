#!/usr/bin/env bats
# Integration tests of a root COMMAND that tries to walk out of the guard (issue 17): leaving the
# cgroup, disarming deployguard, other network namespaces; in audit and attach mode too. Same
# world as integration.bats. Needs root.
#
# Safe if a protection under test is broken: moves go only into cgroups the test made (the real
# cgroup2 root only in the test VM), group signals reach only deployguard's own session (dg_bg),
# and kill(-1) is tried only inside a PID namespace of the test's own.

bats_require_minimum_version 1.5.0
load common

setup_file() {
	world_setup_file || return 1
	printf 'github.com\n' >"$W/github.txt"
}

mnt() { awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts; }

# The number of WARN TAMPER lines with reason $1 in $LOG.
tampers() { grep -c "^WARN TAMPER reason=$1 blocked=true " "$LOG" || true; }

@test "leaving the cgroup as root: to a cgroup outside, a child's pid, from a fresh cgroup2 mount: the mover dies in its write, logged; a sibling it makes and its own child cgroup stay guarded" {
	scratch_cgroup out
	local m sib root=
	m=$(mnt)
	sib=$m/dg-scratch-$WORLD_SFX-sib
	mkdir -p "$W/cg2"
	[ -z "$DG_TEST_VM" ] || root=$m # a disposable VM: the real root too
	run dg -b "$W/github.txt" -- sh -c '
		out=$0 sib=$1 w=$2 m=$3 root=$4
		try() { sh -c "$2; curl -s -m 3 http://192.0.2.10/ && echo ESCAPED-$1"; echo "$1=$?"; }
		try out "echo \$\$ >$out/cgroup.procs"
		mkdir "$sib"
		try sib "echo \$\$ >$sib/cgroup.procs"
		try child "sleep 30 & echo \$! >$w/e.child; echo \$! >$out/cgroup.procs"
		try mount "unshare -m sh -c \"mount -t cgroup2 none $w/cg2 && echo \\\$PPID >$w/cg2/${out#"$m"/}/cgroup.procs\""
		try nsenter "nsenter -t 1 -m -C sh -c \"echo \\\$\\\$ >$out/cgroup.procs\" 2>/dev/null || exit 1"
		try threads "echo \$\$ 2>/dev/null >$out/cgroup.threads || exit 1"
		[ -z "$root" ] || try root "echo \$\$ >$root/cgroup.procs"
		own=$m$(sed -n "s/^0:://p" /proc/self/cgroup)
		mkdir "$own/sub"
		sh -c "echo \$\$ >$own/sub/cgroup.procs; curl -sS -m 3 http://192.0.2.10/ 2>/dev/null; echo nested=\$?"
		curl -sS -m 3 http://192.0.2.10/ 2>/dev/null; echo "after=$?"
		curl -fsS -m 3 http://192.0.2.30/pkg.txt' "$CG" "$sib" "$W" "$m" "$root"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *ESCAPED* ]]
	[[ "$output" == *"out=137"*"sib=7"*"child=137"*"mount=137"*"nsenter=1"*"threads=1"*"nested=7"*"after=7"*"package index"* ]]
	[ -z "$root" ] || [[ "$output" == *"root=137"* ]]
	gone "$(cat "$W/e.child")" # the child it moved: killed by deployguard
	for _ in $(seq 50); do # killed, and soon gone from the cgroups they were moved to
		[ -z "$(cat "$CG/cgroup.procs" "$sib/cgroup.procs")" ] && break
		sleep 0.1
	done
	[ -z "$(cat "$CG/cgroup.procs" "$sib/cgroup.procs")" ]
	[ "$(tampers LeaveCgroup)" -eq $((${root:+1} + 3)) ]
	log_line "^WARN TAMPER reason=LeaveCgroup blocked=true pid=[0-9]+ cmd=\"sh -c echo .{2} >$CG/cgroup.procs; curl .* tried=\"move pid [0-9]+ to cgroup /${CG#"$m"/} \(id [0-9]+\)\""
	# the sibling, made during the run and holding only the script's processes, was adopted
	log_line "^INFO CGROUP ADOPTED path=\"/${sib#"$m"/}\" pid=[0-9]+ cmd=\"sh -c echo .{2} >$sib/cgroup.procs; curl "
	[ -z "$(bpftool cgroup show "$sib")" ] # released at the end
}

@test "a process outside the guard moving a guarded one out (a daemon asked to): the moved process is killed, the move logged" {
	scratch_cgroup out
	dg_bg -b "$W/github.txt" -- sh -c 'sleep 60 & echo $! >"$0/m.pid"; wait $!; echo "wait=$?" >"$0/m.out"' "$W"
	wait_for "$W/m.pid"
	sh -c 'echo $$ >"$0/m.mover"; echo "$1" >"$2/cgroup.procs"' "$W" "$(cat "$W/m.pid")" "$CG"
	gone "$(cat "$W/m.pid")"
	wait_pid "$(cat "$W/dg.pid")"
	[ "$(cat "$W/m.out")" = wait=137 ]
	log_line "^WARN TAMPER reason=LeaveCgroup blocked=true pid=$(cat "$W/m.mover") .*tried=\"move pid $(cat "$W/m.pid") to cgroup "
}

@test "disarming as root: signals to deployguard and its watchdog, SIGKILL and SIGSTOP to its group, bpftool detach, fds by id, pidfd_open, ptrace, /proc/PID/mem, modules, kexec: refused and logged, the guard holds" {
	cat >"$W/hostile.sh" <<-'EOF'
		trap '' USR1
		dg=$PPID w=$1
		echo "$(sed -n 's/^0:://p' /proc/self/cgroup)" >"$w/d.cg"
		until [ -e "$w/d.ids" ]; do sleep 0.05; done
		. "$w/d.ids"
		wd=$(for p in /proc/[0-9]*; do
			[ "$(cat "$p/comm" 2>/dev/null)" = dg-watchdog ] &&
				grep -q "^PPid:	$dg\$" "$p/status" && echo "${p#/proc/}"; done)
		kill -KILL "$dg"; echo "kill=$?"
		kill -STOP "$dg"; echo "stop=$?"
		kill -TERM "${wd:?no watchdog}"; echo "watchdog=$?"
		kill -KILL 0; echo "group=$?"
		kill -USR1 0; echo "usr1=$?"
		setsid -w sh -c 'kill -KILL 0; echo alive'; echo "owngroup=$?"
		bpftool link detach id "$LINK"; echo "linkdetach=$?"
		bpftool cgroup detach "$CGP" connect4 id "$PROG"; echo "cgdetach=$?"
		bpftool prog show id "$PROG" >/dev/null; echo "progshow=$?"
		python3 "$2" "$dg"
		getent hosts github.com; echo "dns=$?"
		curl -sS -m 3 http://192.0.2.10/ 2>/dev/null; echo "ip=$?"
	EOF
	dg_bg -b "$W/github.txt" -- sh "$W/hostile.sh" "$W" "$T/tools/tamper.py" >"$W/d.out" 2>&1
	wait_for "$W/d.cg"
	cgp=$(mnt)$(cat "$W/d.cg")
	prog=$(bpftool cgroup show "$cgp" | awk '$2 == "cgroup_inet4_connect" {print $1}')
	link=$(bpftool link show | awk -v p="$prog" '$2 == "cgroup" && $4 == p {sub(":", "", $1); print $1}')
	[ -n "$prog" ]
	[ -n "$link" ]
	printf 'LINK=%s PROG=%s CGP=%s\n' "$link" "$prog" "$cgp" >"$W/d.ids"
	wait_pid "$(cat "$W/dg.pid")"
	cat "$W/d.out"
	grep -zq $'kill=1\nstop=1\nwatchdog=1\ngroup=1\nusr1=0\nowngroup=137' "$W/d.out"
	for k in linkdetach cgdetach progshow; do ! grep -q "^$k=0" "$W/d.out" || false; done
	for k in pidfd_open ptrace process_vm_writev finit_module kexec_load; do grep -q "^$k=EPERM" "$W/d.out"; done
	grep -q '^pidfd_send_signal=ENOSYS' "$W/d.out"
	grep -q '^clone3=ENOSYS' "$W/d.out"
	grep -q '^mem=EACCES' "$W/d.out"
	grep -q '^fd=EACCES' "$W/d.out"
	grep -zq $'dns=2\nip=7' "$W/d.out"
	[ "$(tampers SignalGuard)" -eq 4 ]
	[ "$(tampers ReachGuard)" -eq 3 ]
	[ "$(tampers KernelWide)" -eq 2 ]
	[ "$(tampers DisarmBPF)" -ge 3 ]
	log_line "^WARN TAMPER reason=SignalGuard blocked=true pid=[0-9]+ cmd=\"sh $W/hostile.sh .* tried=\"kill\([0-9]+, KILL\)\""
	log_line "tried=\"bpf\(BPF_LINK_GET_FD_BY_ID\)\""
	log_line "tried=\"bpf\(BPF_PROG_GET_FD_BY_ID\)\""
	grep -q "deployguard: summary: " "$LOG" # deployguard itself ran to the end
}

@test "kill -1 from a root script, inside a PID namespace of the test's own: refused and logged, the guard runs on" {
	run unshare -p -f --mount-proc nsenter --net="/run/netns/$NS_HOST" "$DG" --upstream "$UPSTREAM4" -o "$LOG" -b "$W/github.txt" -- sh -c '
		trap "" TERM
		kill -TERM -1; echo "all=$?"
		getent hosts github.com; echo "dns=$?"'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"all=1"*"dns=2"* ]]
	log_line '^WARN TAMPER reason=SignalGuard blocked=true .*tried="kill\(-1, TERM\)"'
}

@test "deployguard killed from outside (as the OOM killer would): the programs stay attached until the command is dead; the blocked address never answers" {
	dg_bg -b "$W/github.txt" -- sh -c 'echo $$ >"$0/o.pid"
		while :; do curl -s -m 1 http://192.0.2.10/ >/dev/null && echo ESCAPED >>"$0/o.esc"; done' "$W" 2>"$W/o.err"
	wait_for "$W/o.pid"
	wait_line 'WARN IP BLOCKED .*ip=192.0.2.10 ' "$LOG" # the guard is refusing the loop's curls
	kill -KILL "$(cat "$W/dg.pid")"
	wait_pid "$(cat "$W/dg.pid")" || true
	gone "$(cat "$W/o.pid")"
	[ ! -e "$W/o.esc" ]
	grep -q "died without cleaning up" "$W/o.err"
}

@test "new network namespaces leak nothing: in unshare -n and ip netns exec, a blocked address is refused, and DNS there reaches the proxy: a blocked name fails, an allowed one resolves" {
	run dg -b "$W/github.txt" -- sh -c '
		unshare -n sh -c "ip link set lo up; ip addr add 192.0.2.10/32 dev lo
			python3 -c \"import socket, time; s = socket.socket(); s.bind((\\\"192.0.2.10\\\", 80)); s.listen(); time.sleep(6)\" &
			sleep 0.5; curl -sS -m 2 http://192.0.2.10/ 2>/dev/null; echo unshare-ip=\$?
			getent hosts github.com >/dev/null; echo unshare-dns=\$?
			getent hosts pkgs.example.org >/dev/null; echo unshare-allowed=\$?"
		ip netns exec "$0" sh -c "curl -sS -m 3 http://192.0.2.10/ 2>/dev/null; echo netns-ip=\$?
			getent hosts github.com >/dev/null; echo netns-dns=\$?
			dig +short +time=2 +tries=1 @198.18.0.1 github.com | grep -x 192.0.2.10; echo netns-dig=\$?"
		curl -fsS -m 3 http://192.0.2.30/pkg.txt' "$NS_INET"
	echo "$output"
	[[ "$output" == *"unshare-ip=7"*"unshare-dns=2"*"unshare-allowed=0"*"netns-ip=7"*"netns-dns=2"*"netns-dig=1"*"package index"* ]]
	[ "$(grep -c '^WARN IP BLOCKED .*ip=192.0.2.10 ' "$LOG")" -eq 2 ]
}

@test "--audit: escapes are still refused and logged blocked=true; the policy is only watched" {
	scratch_cgroup out
	run dg --audit -b "$W/github.txt" -- sh -c '
		sh -c "echo \$\$ >$0/cgroup.procs; echo ESCAPED"; echo "out=$?"
		kill -KILL $PPID; echo "kill=$?"
		getent hosts github.com >/dev/null; echo "dns=$?"' "$CG"
	[[ "$output" == *"out=137"*"kill=1"*"dns=0"* ]]
	[[ "$output" != *ESCAPED* ]]
	[ "$(tampers LeaveCgroup)" -eq 1 ]
	[ "$(tampers SignalGuard)" -eq 1 ]
}

@test "attach mode: a process of the guarded cgroup that moves itself out is killed; one in a child cgroup stays guarded" {
	scratch_cgroup out
	local out=$CG guarded mover
	scratch_cgroup attach
	guarded=$CG
	in_cg sh -c 'until [ -e "$0/go" ]; do sleep 0.05; done
		mkdir "$2/sub" && echo $$ >"$2/sub/cgroup.procs"
		curl -sS -m 3 http://192.0.2.10/ 2>/dev/null; echo "nested=$?" >"$0/a.nested"
		echo $$ >"$1/cgroup.procs"; echo ESCAPED >"$0/a.esc"' "$W" "$out" "$guarded" &
	mover=$!
	dg_bg -b "$W/github.txt" --cgroup "$guarded"
	wait_line "guarding $guarded until SIGINT" "$LOG"
	touch "$W/go"
	wait_pid "$mover" 10 || true
	kill -INT "$(cat "$W/dg.pid")"
	wait_pid "$(cat "$W/dg.pid")"
	[ "$(cat "$W/a.nested")" = nested=7 ]
	[ ! -e "$W/a.esc" ]
	[ "$(tampers LeaveCgroup)" -eq 1 ]
}

@test "delegation is named: a connect to a unix socket whose listener runs outside the cgroup is logged once per process and socket, with the listener; one inside is not" {
	in_host python3 "$T/tools/unixsrv.py" "$W/outside.sock" 30 & # a stand-in daemon, outside
	local job=$! srv
	wait_for "$W/outside.sock.ready"
	srv=$(cat "$W/outside.sock.ready")
	run dg -b "$W/github.txt" -- sh -c '
		python3 "$0/tools/unixsrv.py" "$1/inside.sock" 5 &
		until [ -e "$1/inside.sock.ready" ]; do sleep 0.05; done
		python3 "$0/tools/unixsrv.py" --connect "$1/outside.sock" 2
		python3 "$0/tools/unixsrv.py" --connect "$1/outside.sock" 1
		python3 "$0/tools/unixsrv.py" --connect "$1/inside.sock" 1
		wait' "$T" "$W"
	kill "$srv"
	wait_pid "$job" || true
	[ "$status" -eq 0 ]
	[ "$(grep -c "done by pid $srv" <<<"$output")" -eq 3 ]
	if in_host "$DG" --check | grep -q '^cgroup/connect_unix  *fallback'; then
		# before 6.7 no hook sees it: --check says so, and nothing is logged
		! grep -q 'DELEGATED' "$LOG" || false
	else
		[ "$(grep -cE "^WARN DELEGATED path=\"$W/outside.sock\" peer=$srv peercmd=\"[^\"]*unixsrv.py $W/outside.sock 30 \" pid=[0-9]+ cmd=\"[^\"]*unixsrv.py --connect " "$LOG")" -eq 2 ]
		! grep -q 'inside.sock' "$LOG" || false
		grep -qE "^ +2 allowed +- +delegated +$W/outside.sock \(pid $srv\)" "$LOG"
		run in_host "$DG" --check
		[[ "$output" == *"delegation"*"ok"*"WARN DELEGATED"* ]]
	fi
}

# Run "$@" in a mount namespace of the test's own, where a stand-in nscd (outside the cgroup)
# answers github.com and nsswitch.conf also names systemd-resolved's source.
with_nscd() {
	cat >"$W/nss.sh" <<-'EOF2'
		w=$1 t=$2
		shift 2
		mount -t tmpfs none /var && mkdir -p /var/run/nscd || exit 1
		printf 'passwd: files\nhosts: files resolve [!UNAVAIL=return] dns\n' >"$w/nsswitch.conf"
		mount --bind "$w/nsswitch.conf" /etc/nsswitch.conf || exit 1
		python3 "$t/tools/nscd.py" /var/run/nscd/socket 30 github.com=192.0.2.10 >"$w/nscd.out" &
		until [ -e /var/run/nscd/socket.ready ]; do sleep 0.05; done
		"$@"
		st=$?
		kill "$(cat /var/run/nscd/socket.ready)"
		exit $st
	EOF2
	unshare -m sh "$W/nss.sh" "$W" "$T" nsenter --net="/run/netns/$NS_HOST" "$@"
}

@test "host lookups that bypass DNS (nscd, an nsswitch source): COMMAND resolves over DNS instead and is blocked; --keep-nsswitch lets the daemon answer, unseen" {
	run with_nscd "$DG" --check
	[[ "$output" == *"name resolution"*"redirect"*"sends host lookups to resolve, and nscd answers them: COMMAND gets a view that asks DNS"* ]]
	run with_nscd "$DG" --upstream "$UPSTREAM4" -o "$LOG" -b "$W/github.txt" -- sh -c '
		getent ahosts github.com >/dev/null; echo "dns=$?"; grep "^hosts:" /etc/nsswitch.conf'
	[[ "$output" == *"dns=2"*"hosts: files dns"* ]]
	blocked_line github.com.
	grep -q 'nscd answers them: COMMAND resolves over DNS instead, in a mount namespace of its own' "$LOG"
	# the view hides nscd: no connection reached it
	! grep -q DELEGATED "$LOG" || false
	LOG=$W/log.keep
	run with_nscd "$DG" --upstream "$UPSTREAM4" -o "$LOG" --keep-nsswitch -b "$W/github.txt" -- getent ahosts github.com
	[ "$status" -eq 0 ]
	[[ "$output" == *"--keep-nsswitch: names COMMAND resolves there bypass the proxy"*"192.0.2.10"* ]]
	! grep -q 'DNS BLOCKED' "$LOG" || false
	grep -q 'nscd: github.com -> 192.0.2.10' "$W/nscd.out"
}

@test "--guard-also: a daemon in a cgroup of its own that COMMAND asks to look a name up is guarded with the same policy while the run lasts, then released" {
	scratch_cgroup daemon
	in_cg python3 "$T/tools/unixsrv.py" "$W/d.sock" 60 "$UPSTREAM4" & # looks names up for clients
	local job=$! d
	wait_for "$W/d.sock.ready"
	d=$(cat "$W/d.sock.ready")
	ask='python3 '$T'/tools/unixsrv.py --connect '$W'/d.sock 1 github.com'
	run dg -b "$W/github.txt" -- $ask # unguarded, the daemon does what the deploy may not
	[[ "$output" == *"github.com rcode 0 answers 1"* ]]
	LOG=$W/log.also
	run dg --guard-also "$CG" -b "$W/github.txt" -- $ask
	[[ "$output" == *"github.com rcode 3 answers 0"* ]] # NXDOMAIN, from the proxy
	[[ "$(blocked_line github.com.)" == *"pid=$d cmd=\""*"python3 $T/tools/unixsrv.py $W/d.sock 60 $UPSTREAM4 \""* ]]
	grep -q "also guarding $CG until the run ends" "$LOG"
	[ -z "$(bpftool cgroup show "$CG")" ] # released: its own programs only, none here
	run in_host $ask
	[[ "$output" == *"github.com rcode 0 answers 1"* ]]
	kill "$d"
	wait_pid "$job" || true
	run dg --guard-also "$(mnt)" -- true
	[ "$status" -eq 125 ]
	[[ "$output" == *"holds deployguard itself (or is the cgroup2 root)"* ]]
	run dg --guard-also "$CG/none" -- true
	[ "$status" -eq 125 ]
	[[ "$output" == *"is not an existing cgroup v2 directory"* ]]
}

@test "a cgroup the deploy makes for its own processes is adopted: a running child moved there by another stays guarded, counts as the run's, and is released at the end" {
	local m made
	m=$(mnt)
	made=$m/dg-scratch-$WORLD_SFX-made
	run dg -b "$W/github.txt" --report "$W/ad.json" -- sh -c '
		made=$0 w=$1
		sh -c "echo \$\$ >$w/loop.pid
			while :; do curl -s -m 1 http://192.0.2.10/ >/dev/null && echo ESCAPED; echo >>$w/loop.n; done" &
		until [ -s "$w/loop.pid" ]; do sleep 0.05; done
		mkdir "$made" && cat "$w/loop.pid" >"$made/cgroup.procs"; echo "moved=$?"
		n=$(wc -l <"$w/loop.n")
		until [ "$(wc -l <"$w/loop.n")" -gt $((n + 3)) ]; do sleep 0.05; done
		grep -c . "$made/cgroup.procs"
		kill "$(cat "$w/loop.pid")"
		getent hosts github.com; echo "dns=$?"' "$made" "$W"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *ESCAPED* ]]
	[[ "$output" == *"moved=0"*"dns=2"* ]]
	log_line "^INFO CGROUP ADOPTED path=\"/${made#"$m"/}\" pid=[0-9]+ cmd=\"cat $W/loop.pid \""
	[ "$(tampers LeaveCgroup)" -eq 0 ]
	grep -qE "^ +1 allowed +- +adopted +/${made#"$m"/} " "$LOG"
	[ "$(grep -c '^WARN IP BLOCKED .*ip=192.0.2.10 ' "$LOG")" -ge 3 ] # the loop, refused each time
	python3 "$T/tools/report_check.py" "$W/ad.json" "$T/../man/deployguard.8"
	grep -q "\"kind\":\"adopted\",\"what\":\"/${made#"$m"/}\"" "$W/ad.json"
	[ -z "$(bpftool cgroup show "$made")" ] # released
	rmdir "$made"
}

@test "a cgroup made during the run that holds someone else's process is not adopted: moving into it is an escape, and the other process is untouched" {
	local outsider
	dg_bg -b "$W/github.txt" -- sh -c 'w=$0; touch "$w/x.started"
		until [ -e "$w/x.ready" ]; do sleep 0.05; done
		sh -c "echo \$\$ >$(cat "$w/x.ready")/cgroup.procs; curl -s -m 3 http://192.0.2.10/ && echo ESCAPED"
		echo "x=$?" >"$w/x.out"' "$W"
	wait_for "$W/x.started"
	scratch_cgroup later # made during the run, by the test: not the deploy's
	in_cg sleep 60 &
	outsider=$!
	until grep -q . "$CG/cgroup.procs"; do sleep 0.05; done
	echo "$CG" >"$W/x.ready"
	wait_pid "$(cat "$W/dg.pid")"
	[ "$(cat "$W/x.out")" = x=137 ]
	[ "$(tampers LeaveCgroup)" -eq 1 ]
	log_line "^WARN TAMPER reason=LeaveCgroup blocked=true .*tried=\"move pid [0-9]+ to cgroup /[^ ]*-later \(id [0-9]+\), not adopted: it holds pid [0-9]+ \(sleep 60 \), which is not guarded\""
	kill -0 "$outsider" # untouched
	[ -z "$(bpftool cgroup show "$CG")" ]
	kill "$outsider"
	wait_pid "$outsider" || true
}

@test "an adopted cgroup's leftovers: killed with --leftovers kill, and by the watchdog if deployguard dies; left running, unguarded, by default" {
	local m made
	m=$(mnt)
	made=$m/dg-scratch-$WORLD_SFX-left
	run dg --leftovers kill -b "$W/github.txt" -- sh -c 'mkdir "$0" && sh -c "echo \$\$ >$0/cgroup.procs; exec sleep 60" &
		until grep -q . "$0/cgroup.procs" 2>/dev/null; do sleep 0.05; done' "$made"
	[ "$status" -eq 0 ]
	[[ "$output" == *"left behind by COMMAND, killing it: pid "*" cmd \"sleep 60 \""* ]]
	[ -z "$(cat "$made/cgroup.procs")" ]
	rmdir "$made"
	LOG=$W/log.wd
	dg_bg -b "$W/github.txt" -- sh -c 'mkdir "$0" && sh -c "echo \$\$ >$0/cgroup.procs; exec sleep 60" &
		wait' "$made"
	until grep -q . "$made/cgroup.procs" 2>/dev/null; do sleep 0.05; done
	wait_line "CGROUP ADOPTED" "$LOG"
	kill -KILL "$(cat "$W/dg.pid")"
	wait_pid "$(cat "$W/dg.pid")" || true
	for _ in $(seq 50); do grep -q . "$made/cgroup.procs" || break; sleep 0.1; done
	[ -z "$(cat "$made/cgroup.procs")" ] # killed by the watchdog
	rmdir "$made"
	LOG=$W/log.leave
	run dg -b "$W/github.txt" -- sh -c 'mkdir "$0" && sh -c "echo \$\$ >$0/cgroup.procs; exec sleep 60 >/dev/null 2>&1" &
		until grep -q . "$0/cgroup.procs" 2>/dev/null; do sleep 0.05; done' "$made"
	[[ "$output" == *"left behind by COMMAND in a cgroup it made, now unguarded: pid "*" cmd \"sleep 60 \""* ]]
	[ -n "$(cat "$made/cgroup.procs")" ]
	[ -z "$(bpftool cgroup show "$made")" ]
	echo 1 >"$made/cgroup.kill"
}

@test "a device program's attach (what runc and crun do on cgroup v2), from any thread, is made for a root COMMAND; any other attach stays refused and logged" {
	dg_bg -b "$W/github.txt" -- sh -c '
		own=$0$(sed -n "s/^0:://p" /proc/self/cgroup)
		mkdir "$own/ctr"
		python3 "$1/tools/devattach.py" "$own/ctr" >"$2/dev.out"
		python3 "$1/tools/devattach.py" "$own/ctr" 1 >>"$2/dev.out"
		echo "$own/ctr" >"$2/dev.cg"
		until [ -e "$2/dev.done" ]; do sleep 0.05; done' "$(mnt)" "$T" "$W"
	wait_for "$W/dev.cg"
	[ "$(bpftool cgroup show "$(cat "$W/dev.cg")" | grep -c cgroup_device)" -eq 1 ]
	touch "$W/dev.done"
	wait_pid "$(cat "$W/dg.pid")"
	[ "$(cat "$W/dev.out")" = $'attach=ok\nattach=EPERM' ]
	[ "$(tampers DisarmBPF)" -eq 1 ]
	log_line '^WARN TAMPER reason=DisarmBPF blocked=true .*tried="bpf\(BPF_PROG_ATTACH\)"'
}
