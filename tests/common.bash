# Shared by the bats files: the world, running deployguard in it, and the check that nothing
# outlives a run. Loaded with "load common".

# Every test is bounded: a regression that hangs (a wait that never returns) fails the test
# after this many seconds instead of hanging CI. The slowest test takes 35 s in the TCG VM.
: "${BATS_TEST_TIMEOUT:=300}"

# Build the world once per file; teardown_file always removes it.
world_setup_file() {
	[ "$(id -u)" -eq 0 ] || { echo "integration tests need root" >&3; return 1; }
	export T=$BATS_TEST_DIRNAME
	export DG=${DG_BIN:-$T/../deployguard} # the VM runs the installed package's
	W=$(mktemp -d /tmp/dg-test.XXXXXX)
	export W
	source "$T/world.sh"
	export WORLD_SFX
	world_up "$W"
}

teardown_file() {
	source "$T/world.sh"
	world_down "$W"
	rm -rf "$W"
}

setup() {
	source "$T/world.sh"
	LOG=$W/log.$BATS_TEST_NUMBER
}

# Nothing may outlive a run: no cgroup of ours, no program of ours. A detached tracing program
# is freed after an RCU grace period, so give the kernel a bounded moment.
teardown() {
	local cg i d
	if [ -f "$W/dg.pid" ]; then # a deployguard a failed test left in the background
		kill -TERM "$(cat "$W/dg.pid")" 2>/dev/null && wait_pid "$(cat "$W/dg.pid")" 10
		rm -f "$W/dg.pid"
	fi
	cg=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
	for d in "$cg"/dg-scratch-"$WORLD_SFX"*; do # a test's own cgroups, made with scratch_cgroup
		[ -d "$d" ] || continue
		echo 1 >"$d/cgroup.kill"
		for i in $(seq 50); do # nested cgroups first; a killed process leaves soon after
			find "$d" -depth -type d -exec rmdir {} + 2>/dev/null && break
			sleep 0.1
		done
	done
	if ls -d "$cg"/deployguard-* 2>/dev/null; then
		echo "cgroups left behind (above)" >&2
		return 1
	fi
	# nor a directory in a cgroup v1 hierarchy (hybrid hosts): the limits', or runc's for a
	# container below ours
	if awk '$3 == "cgroup" {print $2}' /proc/self/mounts |
		xargs -r -I{} find {} -maxdepth 3 -type d -name 'deployguard-*' | grep .; then
		echo "cgroup v1 directories left behind (above)" >&2
		return 1
	fi
	for i in $(seq 50); do
		bpftool prog show 2>/dev/null | grep -q ' name dg_' || return 0
		sleep 0.1
	done
	echo "BPF programs left behind:" >&2
	bpftool prog show | grep ' name dg_' >&2
	return 1
}

# Wait at most ${2:-60} seconds for background job $1 to end, then reap it: its status is ours.
# One that is still running is killed and the wait fails. (A bare "wait" would also wait for
# bats' own timeout job.)
wait_pid() {
	local i
	for i in $(seq $((${2:-60} * 10))); do
		[ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null || break
		sleep 0.1
	done
	if [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; then
		echo "pid $1 still running after ${2:-60} s: killed" >&2
		kill -KILL "$1"
		wait "$1"
		return 1
	fi
	wait "$1"
}

# Run deployguard in the host namespace; its log goes to $LOG.
dg() {
	in_host "$DG" --upstream "$UPSTREAM4" -o "$LOG" "$@"
}

# The log line for a blocked domain, or fail showing the log.
blocked_line() {
	grep -F "WARN DNS BLOCKED" "$LOG" | grep -F "domain=$1 " | head -n1 | grep . || {
		cat "$LOG" >&2
		return 1
	}
}

# The first log line matching an extended regex, or fail showing the log.
log_line() {
	grep -E "$1" "$LOG" | head -n1 | grep . || {
		echo "no line matches: $1" >&2
		cat "$LOG" >&2
		return 1
	}
}

# A cgroup of the test's own (not deployguard's), removed by teardown: its path in $CG.
scratch_cgroup() {
	CG=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)/dg-scratch-$WORLD_SFX-$1
	mkdir "$CG"
}

# Start deployguard in the background with SIGINT, SIGTERM and SIGHUP at their defaults (bats'
# background jobs ignore SIGINT, nohup SIGHUP, and an ignored signal stays ignored); its pid goes
# to $W/dg.pid. It gets a session of its own: a signal a test's script sends to its process group
# reaches deployguard and the script, never bats.
dg_bg() {
	/usr/bin/python3 -c '
import os, signal, sys
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_DFL)
os.setsid()
open(sys.argv[1], "w").write(str(os.getpid()))
os.execvp(sys.argv[2], sys.argv[2:])' "$W/dg.pid" nsenter --net="/run/netns/$NS_HOST" \
		"$DG" --upstream "$UPSTREAM4" -o "$LOG" "$@" &
}

# Is PID dead (gone, or a zombie its new parent has not reaped yet)? Waits at most 5 s.
gone() {
	for _ in $(seq 50); do
		[ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

wait_for() {
	for _ in $(seq 100); do [ -e "$1" ] && return 0; sleep 0.1; done
	echo "timed out waiting for $1" >&2
	return 1
}

# Run a command in $CG, in the host namespace.
in_cg() {
	in_host sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$CG" "$@"
}

# Wait (bounded, 60 s) for a process whose command line matches an extended regex to run in
# cgroup directory $1.
wait_proc_in() {
	local p
	for _ in $(seq 600); do
		for p in $(cat "$1/cgroup.procs" 2>/dev/null); do
			tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qE "$2" && return 0
		done
		sleep 0.1
	done
	echo "timed out waiting for '$2' in $1" >&2
	return 1
}

# Wait (bounded) for a line matching an extended regex in a file.
wait_line() {
	for _ in $(seq 100); do grep -qE "$1" "$2" 2>/dev/null && return 0; sleep 0.1; done
	echo "timed out waiting for '$1' in $2:" >&2
	cat "$2" >&2
	return 1
}
