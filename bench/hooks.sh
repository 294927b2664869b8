#!/bin/bash
# make bench, hook part (issue 5, items 1 and 2): bench/hooks in a guarded cgroup and outside
# it, in alternating rounds, over loopback (a sink in the host namespace) and veth (a sink in the
# "internet" namespace). Prints JSON lines {"cond", "round", "path", "op", ...}; then, in one
# more guarded run with kernel.bpf_stats_enabled, {"stats": OP, "prog", "runs", "ns_per_run"}
# for each program that ran during OP (the stats cost a clock read per run, so that run is kept
# out of the ratios).
# Usage: bench/hooks.sh [ROUNDS]
set -euo pipefail
B=$(cd "$(dirname "$0")" && pwd)
T=$B/../tests
ROUNDS=${1:-5}
N=${N:-2000}
W=$(mktemp -d /tmp/dg-bench.XXXXXX)
source "$T/world.sh"
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
trap 'sysctl -qw kernel.bpf_stats_enabled=$old_stats; world_down "$W"; rm -rf "$W"' EXIT
world_up "$W" >&2
printf 'github.com\n192.0.2.10\n' >"$W/list"
in_inet "$B/hooks" sink 9000 &
in_host "$B/hooks" sink 9000 &
sleep 0.3

# The suite, as one shell command; each line of output gets the path it ran on.
suite() {
	local path addr
	for path in loopback:127.0.0.1 veth:198.18.0.1; do
		addr=${path#*:}
		echo "$B/hooks connect $addr 9000 $N | sed 's/^{/{\"path\": \"${path%%:*}\", /'"
		echo "$B/hooks udp $addr 9000 $((N * 20)) | sed 's/^{/{\"path\": \"${path%%:*}\", /'"
		echo "$B/hooks sendto $addr 9000 $((N * 20)) | sed 's/^{/{\"path\": \"${path%%:*}\", /'"
		echo "$B/hooks stream $addr 9000 512 | sed 's/^{/{\"path\": \"${path%%:*}\", /'"
	done
}
SUITE=$(suite | paste -sd';' -)

guarded() { in_host "$B/../deployguard" --upstream 198.18.0.1 -b "$W/list" -o /dev/null -- sh -c "$1"; }

for r in $(seq "$ROUNDS"); do
	for cond in $([ $((r % 2)) -eq 1 ] && echo "plain guarded" || echo "guarded plain"); do
		if [ "$cond" = plain ]; then
			in_host sh -c "$SUITE"
		else
			guarded "$SUITE; $B/hooks blocked 192.0.2.10 80 $N | sed 's/^{/{\"path\": \"veth\", /'"
		fi | sed "s/^{/{\"cond\": \"$cond\", \"round\": $r, /"
	done
done

# In-kernel cost per program run, by operation.
sysctl -qw kernel.bpf_stats_enabled=1
snap='bpftool -j prog show | /usr/bin/python3 -c "import json,sys; print(json.dumps({p[\"name\"]: [p.get(\"run_cnt\", 0), p.get(\"run_time_ns\", 0)] for p in json.load(sys.stdin) if p.get(\"name\", \"\").startswith(\"dg_\")}))"'
diff='/usr/bin/python3 -c "
import json, sys
a, b = json.loads(sys.argv[2]), json.loads(sys.argv[3])
for name in sorted(b):
    runs = b[name][0] - a.get(name, [0, 0])[0]
    if runs:
        print(json.dumps({\"stats\": sys.argv[1], \"prog\": name, \"runs\": runs, \"ns_per_run\": round((b[name][1] - a.get(name, [0, 0])[1]) / runs, 1)}))"'
stats=""
for op in "connect 198.18.0.1 9000 $N" "udp 198.18.0.1 9000 $((N * 20))" \
	"stream 198.18.0.1 9000 512" "blocked 192.0.2.10 80 $N"; do
	stats+="s0=\$($snap); $B/hooks $op >/dev/null; s1=\$($snap); $diff '${op%% *}' \"\$s0\" \"\$s1\";"
done
guarded "$stats"
