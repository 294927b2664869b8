#!/bin/bash
# make bench, containers part (issue 31): `podman run --rm --network host IMAGE true` unguarded
# vs under deployguard (a cached start: the programs come from the compile cache, and adopting
# the container's cgroup compiles nothing), alternating, in the test world. JSON lines {"cond",
# "round", "wall_s", "cached"}: cached says the guarded run loaded its programs from the cache.
# Usage: bench/containers.sh [ROUNDS]
set -euo pipefail
B=$(cd "$(dirname "$0")" && pwd)
T=$B/../tests
ROUNDS=${1:-9}
W=$(mktemp -d /tmp/dg-bench.XXXXXX)
source "$T/world.sh"
source "$T/podman.bash"
trap 'world_down "$W"; rm -rf "$W"' EXIT
world_up "$W" >&2
podman_setup >&2
printf 'github.com\n' >"$W/list"
RUN=(podman run --rm --network host localhost/tools true)
DG=("$B/../deployguard" --upstream 198.18.0.1 -b "$W/list" -vv -o "$W/log")
in_host "${DG[@]}" -- "${RUN[@]}" >/dev/null 2>"$W/err" || { cat "$W/err" "$W/log" >&2; exit 1; } # warm-up: fills the compile cache
in_host "${RUN[@]}" >/dev/null
timed() { # COND ROUND COMMAND...: one JSON line
	local cond=$1 round=$2 t0 t1 cached=null
	shift 2
	: >"$W/log"
	t0=$(date +%s.%N)
	in_host "$@" >/dev/null 2>"$W/err"
	t1=$(date +%s.%N)
	[ "$cond" = unguarded ] || cached=$(grep -q 'compile cache: programs from' "$W/log" && echo true || echo false)
	printf '{"cond": "%s", "round": %d, "wall_s": %s, "cached": %s}\n' "$cond" "$round" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}')" "$cached"
}
for r in $(seq "$ROUNDS"); do
	timed unguarded "$r" "${RUN[@]}"
	timed guarded "$r" "${DG[@]}" -- "${RUN[@]}"
done
