#!/bin/bash
# make bench, DNS part (issue 5, item 3): dnsperf against the same upstream dnsmasq in the test
# world, through five paths, in alternating rounds. Prints one JSON object per condition and
# round: {"cond", "round", "qps", "lost", "p50_us", "p99_us"}, and for the proxies (b-e)
# "server_cpu_us_per_q" and "server_busy" (CPU seconds per second), and for all "client_busy",
# dnsperf's: it shares the two CPUs, so when the proxy is not busy all the time, QPS measures
# dnsperf and CPU per query the proxy.
#   a  direct to the upstream                 b  through deployguard, forwarded
#   c  deployguard answering blocked names    d  dnsmasq forwarding (no cache), same blocklist
#   e  dnsmasq answering blocked names        b1m  as b, with a 1,000,000-rule blocklist of
#                                                 every form (plain, =, *., globs, reasons)
#   f  bench/relay, a bare forwarder: the latency any userspace hop adds
# QPS and CPU come from a saturating run (-q 100), latency from a paced one (-Q 2000, per-query -v).
# Then the added latency, which is small next to how much this machine's latency drifts within a
# minute: LAT_ROUNDS rounds of one-second paced runs of (a), (f) and (b) back to back, the order
# reversed every other round, each printed as {"lat": COND, "round", "p50_us", "p99_us"}.
# Usage: bench/dns.sh [ROUNDS [SECONDS [LAT_ROUNDS]]]
set -euo pipefail
B=$(cd "$(dirname "$0")" && pwd)
T=$B/../tests
ROUNDS=${1:-3} SECS=${2:-2} LAT_ROUNDS=${3:-10}
W=$(mktemp -d /tmp/dg-bench.XXXXXX)
WORLD_LOG_QUERIES= # the upstream answers; logging each query would weigh on every path
source "$T/world.sh"
trap 'kill "$(cat "$W/fwd.pid" 2>/dev/null)" 2>/dev/null; world_down "$W"; rm -rf "$W"' EXIT
world_up "$W" >&2

BLOCKED=(github.com githubusercontent.com github.io ghcr.io npmjs.org pypi.org docker.io
	quay.io gcr.io registry.example.net)
printf '%s\n' "${BLOCKED[@]}" >"$W/list10"
{
	cat "$W/list10"
	# every form of rule (issue 21): plain, exact, below only, a glob, a reason
	seq 999990 | awk '{f = $1 % 5; n = "r" $1 ".bench.example.net"
		print (f == 1 ? "=" n : f == 2 ? "*." n : f == 3 ? "api-*." n : f == 4 ? n " # why " $1 : n)}'
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
# answered NXDOMAIN. nsenter, not in_host: $! must be dnsmasq itself, not a shell waiting on it
# (which would also print "Terminated" when it is stopped).
nsenter --net="/run/netns/$NS_HOST" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
	--listen-address=198.18.0.2 --port=5353 --server=198.18.0.1 --cache-size=0 \
	--user=root --pid-file="$W/fwd.pidfile" $(printf -- '--address=/%s/ ' "${BLOCKED[@]}") &
echo $! >"$W/fwd.pid"
for _ in $(seq 50); do
	in_host dig +short +time=1 +tries=1 -p 5353 @198.18.0.2 pkgs.example.org | grep -q . && break
	sleep 0.1
done

# The measuring command, run in the host namespace (or guarded): SERVER_PID (or "parent", the
# guarding deployguard) QUERIES SERVER PORT. QPS from a saturating run, with the server's CPU
# ticks before and after it; then latency from a paced one.
cat >"$W/perf.sh" <<'EOF2'
pid=$1 q=$2 server=$3 port=$4 secs=$5
[ "$pid" = parent ] && pid=$PPID
ticks() { [ "$pid" = none ] && echo 0 || awk '{print $14 + $15}' "/proc/$pid/stat"; }
# dnsperf's own CPU: this shell's waited-for children (fields 16 and 17)
client() { awk '{print $16 + $17}' "/proc/$$/stat"; }
echo "server ticks $(ticks)"
echo "client ticks $(client)"
dnsperf -s "$server" -p "$port" -d "$q" -l "$secs" -q 100 -c 4 2>&1
echo "server ticks $(ticks)"
echo "client ticks $(client)"
dnsperf -s "$server" -p "$port" -d "$q" -l "$secs" -Q 2000 -q 10 -v 2>&1
EOF2

# perf QUERIES [deployguard options --]: to 198.18.0.1 (or $SERVER:$PORT, served by $SERVER_PID),
# as the guarded command when options are given.
perf() {
	local q=$1
	shift
	if [ $# -gt 0 ]; then
		in_host "$B/../deployguard" --upstream 198.18.0.1 -o /dev/null "$@" -- \
			sh "$W/perf.sh" parent "$q" 198.18.0.1 53 "$SECS"
	else
		in_host sh "$W/perf.sh" "${SERVER_PID:-none}" "$q" "${SERVER:-198.18.0.1}" \
			"${PORT:-53}" "$SECS"
	fi
}

summarize() { # COND ROUND: the output of perf.sh on stdin -> one JSON line
	/usr/bin/python3 -c '
import json, os, re, sys
text = sys.stdin.read()
qps = [float(x) for x in re.findall(r"Queries per second:\s+([\d.]+)", text)]
done = [int(x) for x in re.findall(r"Queries completed:\s+(\d+)", text)]
lost = [int(x) for x in re.findall(r"Queries lost:\s+(\d+)", text)]
ticks = [int(x) for x in re.findall(r"^server ticks (\d+)$", text, re.M)]
cticks = [int(x) for x in re.findall(r"^client ticks (\d+)$", text, re.M)]
lat = sorted(float(x) * 1e6 for x in re.findall(r"^> \S+ \S+ \S+ ([\d.]+)$", text, re.M))
if lat and not ticks:  # a latency run alone (bench/dns.sh lat)
    print(json.dumps({"lat": sys.argv[1], "round": int(sys.argv[2]),
                      "p50_us": lat[len(lat) // 2], "p99_us": lat[len(lat) * 99 // 100]}))
    sys.exit(0)
if len(qps) < 2 or not lat or len(ticks) < 2:
    sys.exit("dnsperf said:\n" + text)
cpu = (ticks[1] - ticks[0]) / os.sysconf("SC_CLK_TCK")
out = {"cond": sys.argv[1], "round": int(sys.argv[2]), "qps": qps[0], "lost": lost[0],
       "p50_us": lat[len(lat) // 2], "p99_us": lat[len(lat) * 99 // 100]}
if len(cticks) == 2:  # CPU seconds per second of the run, as server_busy below
    out["client_busy"] = (cticks[1] - cticks[0]) / os.sysconf("SC_CLK_TCK") * qps[0] / done[0]
if cpu:
    out["server_cpu_us_per_q"] = cpu * 1e6 / done[0]
    out["server_busy"] = cpu * qps[0] / done[0]  # CPU seconds per second of the run
print(json.dumps(out))' "$@"
}

# The floor: bench/relay, a forwarder that does nothing else, on 198.18.0.2 port 5300.
nsenter --net="/run/netns/$NS_HOST" "$B/relay" 198.18.0.2 5300 198.18.0.1 & disown # as dnsmasq above

for r in $(seq "$ROUNDS"); do
	perf "$W/allowed.q" | summarize a "$r"
	perf "$W/allowed.q" -b "$W/list10" | summarize b "$r"
	perf "$W/blocked.q" -b "$W/list10" | summarize c "$r"
	SERVER=198.18.0.2 PORT=5353 SERVER_PID=$(cat "$W/fwd.pidfile") perf "$W/allowed.q" | summarize d "$r"
	SERVER=198.18.0.2 PORT=5353 SERVER_PID=$(cat "$W/fwd.pidfile") perf "$W/blocked.q" | summarize e "$r"
	perf "$W/allowed.q" -b "$W/list1m" | summarize b1m "$r"
	SERVER=198.18.0.2 PORT=5300 perf "$W/allowed.q" | summarize f "$r"
done

# The added latency: paced runs only, back to back.
lat() { # SERVER PORT [deployguard options --]: one paced run, guarded when options are given
	local run=(dnsperf -s "$1" -p "$2" -d "$W/allowed.q" -l 1 -Q 2000 -q 10 -v)
	shift 2
	if [ $# -gt 0 ]; then
		in_host "$B/../deployguard" --upstream 198.18.0.1 -o /dev/null "$@" "${run[@]}" 2>&1
	else
		in_host "${run[@]}" 2>&1
	fi
}
for r in $(seq "$LAT_ROUNDS"); do
	order="a f b"
	[ $((r % 2)) -eq 0 ] && order="b f a"
	for c in $order; do
		case $c in
		a) lat 198.18.0.1 53 ;;
		f) lat 198.18.0.2 5300 ;;
		b) lat 198.18.0.1 53 -b "$W/list10" -- ;;
		esac | summarize "$c" "$r"
	done
done
