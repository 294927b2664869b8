#!/bin/bash
# make bench, instruction part (issue 5, item 4): userspace instructions per query under
# valgrind --tool=callgrind, deployguard's proxy (bench/proxy_loop) vs dnsmasq forwarding with the
# same blocklist, on the same paced query stream, forwarded and blocked. Each is run for N and
# for 2N queries; the difference over N leaves start-up out. Prints JSON lines
# {"cond": "deployguard"|"dnsmasq", "kind": "forwarded"|"blocked", "insn_per_query"}.
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

# instructions SERVER_KIND QUERIES RUNS: total instructions of one server process (nsenter, not
# in_host: $! must be the server itself).
instructions() {
	local kind=$1 q=$2 runs=$3 pid port
	rm -f "$W/cg.out" "$W/port"
	if [ "$kind" = deployguard ]; then
		nsenter --net="/run/netns/$NS_HOST" valgrind -q --tool=callgrind --callgrind-out-file="$W/cg.out" \
			"$B/proxy_loop" "$W/list" 198.18.0.1 "$W/port" &
		pid=$!
		for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.1; done
		port=$(cat "$W/port")
	else
		nsenter --net="/run/netns/$NS_HOST" valgrind -q --tool=callgrind --callgrind-out-file="$W/cg.out" \
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
	in_host dnsperf -s 127.0.0.1 -p "$port" -d "$q" -n "$runs" -Q 1000 >"$W/perf" 2>&1
	grep -q 'Queries lost:         0 ' "$W/perf" || { cat "$W/perf" >&2; return 1; }
	kill -TERM "$pid"
	wait "$pid" || true
	awk '/^summary:/ {print $2}' "$W/cg.out"
}

for cond in deployguard dnsmasq; do
	for kind in forwarded blocked; do
		one=$(instructions "$cond" "$W/$kind.q" 1)
		two=$(instructions "$cond" "$W/$kind.q" 2)
		echo "{\"cond\": \"$cond\", \"kind\": \"$kind\", \"insn_per_query\": $(((two - one) / N))}"
	done
done
