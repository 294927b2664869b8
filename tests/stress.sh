#!/bin/bash
# make stress: in the test world, 200 processes in the guarded cgroup ask 10,000 queries at once
# (allowed and blocked names, UDP and TCP), then 1,000 short-lived processes ask one each; in rounds.
# Checks that every query got the right answer, that every block is attributed to the process
# that sent it, and that deployguard's fds, map entries and RSS do not grow from round to round.
# Usage: tests/stress.sh [WORKERS QUERIES SHORTLIVED ROUNDS]; KEEP=1 keeps the work directory.
set -euo pipefail
T=$(cd "$(dirname "$0")" && pwd)
WORKERS=${1:-200} QUERIES=${2:-10000} SHORTLIVED=${3:-1000} ROUNDS=${4:-2}
W=$(mktemp -d /tmp/dg-stress.XXXXXX)
source "$T/world.sh"
trap 'world_down "$W"; [ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
world_up "$W"
printf 'github.com\n' >"$W/blocklist.txt"
ulimit -n 4096

status=0
in_host "$T/../deployguard" --upstream "$UPSTREAM4" -b "$W/blocklist.txt" -o "$W/log" -- \
	/usr/bin/python3 "$T/tools/stress.py" 198.18.0.1 "$WORKERS" "$QUERIES" "$SHORTLIVED" \
	"$ROUNDS" "$W" || status=$?

/usr/bin/python3 - "$W" "$ROUNDS" <<'PY' || status=1
import collections, json, re, sys
w, rounds = sys.argv[1], int(sys.argv[2])
want = collections.Counter()   # blocked queries each process sent
for line in open(w + "/queries"):
    pid, _, _, verdict, _ = line.split()
    want[pid] += verdict == "nxdomain"
got, cmds = collections.Counter(), {}
for line in open(w + "/log"):
    m = re.search(r'DNS BLOCKED .* pid=(\d+) cmd="([^"]*)"', line)
    if m:
        got[m[1]] += 1
        cmds[m[1]] = m[2]
blocked = sum(want.values())
wrong = {p: (want[p], got[p]) for p in set(want) | set(got) if want[p] != got[p]}
dig = sum(1 for p in cmds if cmds[p].startswith("dig "))
print("attribution: %d blocked queries from %d processes, %d log lines; %d processes with a "
      "different count; %d short-lived processes named as dig" %
      (blocked, sum(1 for p in want if want[p]), sum(got.values()), len(wrong), dig))
for p, (a, b) in list(wrong.items())[:10]:
    print("  pid %s: sent %d blocked queries, %d attributed" % (p, a, b))
r = [json.loads(l) for l in open(w + "/rounds")]
first, last = r[0], r[-1]
grown = {m: (first["map_entries"].get(m, 0), n) for m, n in last["map_entries"].items()
         if n < 0 or n > first["map_entries"].get(m, 0)}
print("deployguard from round 1 to round %d: VmRSS %+d kB, fds %+d, map entries %s, grown %s" %
      (rounds, last["rss_kb"] - first["rss_kb"], last["fds"] - first["fds"],
       last["map_entries"], grown or "none"))
ok = not wrong and last["fds"] == first["fds"] and last["rss_kb"] - first["rss_kb"] <= 1024 and not grown
sys.exit(0 if ok else 1)
PY
[ "$status" -eq 0 ] && echo "stress: passed" || echo "stress: FAILED"
exit "$status"
