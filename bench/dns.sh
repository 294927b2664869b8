#!/bin/bash
# make bench, DNS part (issue 5, item 3): dnsperf against the same upstream dnsmasq in the test
# world, through five paths, in alternating rounds. Prints one JSON object per condition and
# round: {"cond", "round", "qps", "lost", "p50_us", "p99_us"}.
#   a  direct to the upstream                 b  through deployguard, forwarded
#   c  deployguard answering blocked names    d  dnsmasq forwarding (no cache), same blocklist
#   e  dnsmasq answering blocked names        b1m  as b, with a 1,000,000-rule blocklist
# QPS comes from a saturating run (-q 100), latency from a paced one (-Q 2000, per-query -v).
# Usage: bench/dns.sh [ROUNDS [SECONDS]]
set -euo pipefail
B=$(cd "$(dirname "$0")" && pwd)
T=$B/../tests
ROUNDS=${1:-3} SECS=${2:-2}
W=$(mktemp -d /tmp/dg-bench.XXXXXX)
source "$T/world.sh"
trap 'kill "$(cat "$W/fwd.pid" 2>/dev/null)" 2>/dev/null; world_down "$W"; rm -rf "$W"' EXIT
world_up "$W" >&2

BLOCKED=(github.com githubusercontent.com github.io ghcr.io npmjs.org pypi.org docker.io
	quay.io gcr.io registry.example.net)
printf '%s\n' "${BLOCKED[@]}" >"$W/list10"
{
	cat "$W/list10"
	seq 999990 | sed 's/.*/r&.bench.example.net/'
} >"$W/list1m"
# Every name in a stream is different: dnsmasq merges identical queries in flight, which with
# a handful of names and 100 outstanding would let (d) forward a fraction of what it answers.
# The upstream answers NXDOMAIN for these names; what is measured is the forwarding.
for i in $(seq 2500); do
	printf 'n%d.pkgs.example.org A\nm%d.mirror.example.org AAAA\n' "$i" "$i"
done >"$W/allowed.q"
for i in $(seq 2500); do
	printf 'n%d.github.com A\nm%d.pypi.org AAAA\n' "$i" "$i"
done >"$W/blocked.q"

# The peer: dnsmasq as a forwarding proxy in the host namespace, no cache, the same ten names
# answered NXDOMAIN.
in_host dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
	--listen-address=198.18.0.2 --port=5353 --server=198.18.0.1 --cache-size=0 \
	--user=root --pid-file="$W/fwd.pidfile" $(printf -- '--address=/%s/ ' "${BLOCKED[@]}") &
echo $! >"$W/fwd.pid"
for _ in $(seq 50); do
	in_host dig +short +time=1 +tries=1 -p 5353 @198.18.0.2 pkgs.example.org | grep -q . && break
	sleep 0.1
done

# perf QUERIES [deployguard options --] : dnsperf to 198.18.0.1 (or $PORT/$SERVER), QPS then
# latency, as the guarded command when options are given.
perf() {
	local q=$1 server=${SERVER:-198.18.0.1} port=${PORT:-53}
	shift
	local run=(dnsperf -s "$server" -p "$port" -d "$q")
	local both="${run[*]} -l $SECS -q 100 -c 4 2>&1; ${run[*]} -l $SECS -Q 2000 -q 10 -v 2>&1"
	if [ $# -gt 0 ]; then
		in_host "$B/../deployguard" --upstream 198.18.0.1 -o /dev/null "$@" -- sh -c "$both"
	else
		in_host sh -c "$both"
	fi
}

summarize() { # COND ROUND: dnsperf's two reports on stdin -> one JSON line
	/usr/bin/python3 -c '
import json, re, sys
text = sys.stdin.read()
qps = [float(x) for x in re.findall(r"Queries per second:\s+([\d.]+)", text)]
lost = [int(x) for x in re.findall(r"Queries lost:\s+(\d+)", text)]
lat = sorted(float(x) * 1e6 for x in re.findall(r"^> \S+ \S+ \S+ ([\d.]+)$", text, re.M))
if len(qps) < 2 or not lat:
    sys.exit("dnsperf said:\n" + text)
print(json.dumps({"cond": sys.argv[1], "round": int(sys.argv[2]), "qps": qps[0], "lost": lost[0],
                  "p50_us": lat[len(lat) // 2], "p99_us": lat[len(lat) * 99 // 100]}))' "$@"
}

for r in $(seq "$ROUNDS"); do
	perf "$W/allowed.q" | summarize a "$r"
	perf "$W/allowed.q" -b "$W/list10" | summarize b "$r"
	perf "$W/blocked.q" -b "$W/list10" | summarize c "$r"
	SERVER=198.18.0.2 PORT=5353 perf "$W/allowed.q" | summarize d "$r"
	SERVER=198.18.0.2 PORT=5353 perf "$W/blocked.q" | summarize e "$r"
	perf "$W/allowed.q" -b "$W/list1m" | summarize b1m "$r"
done
