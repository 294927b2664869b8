#!/bin/bash
# make bench, start-up part (issues 5 and 22): wall time and peak RSS (of the largest process,
# so deployguard's compiler child counts) of `deployguard -b list -- true`, a first start (empty
# compile cache) vs bench/floor (compile and load the same text with the same flags, nothing
# else) and a cached start vs bench/floor_cached (load the same compiled programs with libbpf,
# nothing else), alternating; then deployguard's own RSS while a guarded command runs. JSON lines {"cond", "round", "wall_s", "peak_rss_kb"} and
# {"steady_rss_kb"}.
# Usage: bench/startup.sh [ROUNDS]
set -euo pipefail
B=$(cd "$(dirname "$0")" && pwd)
T=$B/../tests
ROUNDS=${1:-7}
W=$(mktemp -d /tmp/dg-bench.XXXXXX)
source "$T/world.sh"
trap 'world_down "$W"; rm -rf "$W"' EXIT
world_up "$W" >&2
printf 'github.com\npypi.org\n' >"$W/list"
DG=("$B/../deployguard" --upstream 198.18.0.1 -b "$W/list" -o /dev/null)

# The flags and header tree deployguard uses, for the floor.
dump=$(in_host "${DG[@]}" --dump-bpf -- true)
mapfile -t flags < <(echo "$dump" | sed -n 's|^// cflag: ||p')
src=$(echo "$dump" | sed -n 's|^// env: BCC_KERNEL_SOURCE=||p')

# The peak RSS comes from GNU time, not from Python's own rusage: a child's peak counts its
# moments before exec, when it was a copy of Python (10 MiB, more than a cached start).
measure() { # COND ROUND COMMAND...: one JSON line
	local cond=$1 round=$2
	shift 2
	/usr/bin/python3 -c '
import json, subprocess, sys, time
t0 = time.monotonic()
subprocess.run(["/usr/bin/time", "-f", "%M", "-o", sys.argv[3]] + sys.argv[4:], check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wall = time.monotonic() - t0
print(json.dumps({"cond": sys.argv[1], "round": int(sys.argv[2]), "wall_s": round(wall, 4),
                  "peak_rss_kb": int(open(sys.argv[3]).read().split()[-1])}))' \
		"$cond" "$round" "$W/rss" "$@"
}

# A first start (an empty compile cache: compile and store) vs bench/floor; a cached start vs
# bench/floor_cached, which loads the same entry with libbpf and does nothing else.
for r in $(seq "$ROUNDS"); do
	rm -rf "$W/cache"
	measure first "$r" env DEPLOYGUARD_CACHE="$W/cache" nsenter --net="/run/netns/$NS_HOST" "${DG[@]}" -- true
	measure floor "$r" env ${src:+BCC_KERNEL_SOURCE=$src} "$B/floor" "${flags[@]}"
	measure cached "$r" env DEPLOYGUARD_CACHE="$W/cache" nsenter --net="/run/netns/$NS_HOST" "${DG[@]}" -- true
	measure floor_cached "$r" "$B/floor_cached" "$W/cache" "$(ls "$W/cache")"
done

# Steady state: deployguard's RSS while the guarded command sleeps.
nsenter --net="/run/netns/$NS_HOST" "${DG[@]}" -- sh -c 'touch "$0/ready"; exec sleep 3' "$W" &
dg=$!
for _ in $(seq 100); do [ -e "$W/ready" ] && break; sleep 0.1; done
sleep 0.5
echo "{\"steady_rss_kb\": $(awk '/^VmRSS:/ {print $2}' "/proc/$dg/status")}"
wait "$dg"
