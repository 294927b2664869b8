#!/bin/bash
# make bench, instruction part (issue 5, item 4): userspace instructions per query under
# valgrind --tool=callgrind, deployguard's proxy (bench/proxy_loop) vs dnsmasq forwarding with the
# same blocklist, on the same paced query stream, forwarded and blocked; and, from perf stat on
# the server running natively, its system calls per query (the kernel side's share of the work,
# which callgrind does not see). Each is run for N and for 2N queries; the difference over N
# leaves start-up out. Prints JSON lines {"cond": "deployguard"|"dnsmasq",
# "kind": "forwarded"|"blocked", "insn_per_query", "syscalls_per_query"}.
set -euo pipefail
B=$(cd "$(dirname "$0")" && pwd)
T=$B/../tests
N=${N:-2000}
W=$(mktemp -d /tmp/dg-bench.XXXXXX)
source "$T/world.sh"
trap 'world_down "$W"; rm -rf "$W"' EXIT
world_up "$W" >&2
printf 'github.com\n' >"$W/list"
for i in $(seq "$N"); do echo "pkgs.example.org A"; done >"$W/forwarded.q"
for i in $(seq "$N"); do echo "github.com A"; done >"$W/blocked.q"

# count SERVER_KIND QUERIES RUNS METER: what METER counts in one server process over RUNS passes
# of QUERIES: "insn", its userspace instructions (callgrind), or "sys", its system calls (perf
# stat on the server running natively). nsenter, not in_host: $! must be the server itself.
count() {
	local kind=$1 q=$2 runs=$3 meter=$4 pid port perfpid wrap=()
	rm -f "$W/cg.out" "$W/port" "$W/ps.out"
	[ "$meter" = insn ] && wrap=(valgrind -q --tool=callgrind --callgrind-out-file="$W/cg.out")
	if [ "$kind" = deployguard ]; then
		nsenter --net="/run/netns/$NS_HOST" "${wrap[@]}" "$B/proxy_loop" "$W/list" 198.18.0.1 "$W/port" &
		pid=$!
		for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.1; done
		port=$(cat "$W/port")
	else
		nsenter --net="/run/netns/$NS_HOST" "${wrap[@]}" \
			dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
			--listen-address=127.0.0.1 --port=5353 --server=198.18.0.1 --cache-size=0 \
			--user=root --pid-file="$W/fwd.pidfile" --address=/github.com/ &
		pid=$!
		port=5353
		for _ in $(seq 100); do
			in_host dig +short +time=1 +tries=1 -p 5353 @127.0.0.1 pkgs.example.org | grep -q . && break
			sleep 0.2
		done
	fi
	if [ "$meter" = sys ]; then
		perf stat -e raw_syscalls:sys_enter -x, -o "$W/ps.out" -p "$pid" &
		perfpid=$!
		sleep 0.5 # perf attaches
	fi
	in_host dnsperf -s 127.0.0.1 -p "$port" -d "$q" -n "$runs" -Q 1000 >"$W/perf" 2>&1
	grep -q 'Queries lost:         0 ' "$W/perf" || { cat "$W/perf" >&2; return 1; }
	if [ "$meter" = sys ]; then
		kill -INT "$perfpid"
		wait "$perfpid" || true
	fi
	kill -TERM "$pid"
	wait "$pid" || true
	if [ "$meter" = sys ]; then
		awk -F, '/raw_syscalls:sys_enter/ {print $1}' "$W/ps.out"
	else
		awk '/^summary:/ {print $2}' "$W/cg.out"
	fi
}

per_query() { # SERVER_KIND QUERIES METER
	local one two
	one=$(count "$1" "$2" 1 "$3")
	two=$(count "$1" "$2" 2 "$3")
	[ -n "$one" ] && [ -n "$two" ] || { echo "callgrind.sh: no $3 count for $1 (is perf or valgrind missing?)" >&2; return 1; }
	awk -v a="$one" -v b="$two" -v n="$N" 'BEGIN { printf "%.2f\n", (b - a) / n }'
}

for cond in deployguard dnsmasq; do
	for kind in forwarded blocked; do
		insn=$(per_query "$cond" "$W/$kind.q" insn)
		sys=$(per_query "$cond" "$W/$kind.q" sys)
		echo "{\"cond\": \"$cond\", \"kind\": \"$kind\", \"insn_per_query\": $insn, \"syscalls_per_query\": $sys}"
	done
done
