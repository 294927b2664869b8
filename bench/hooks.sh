#!/bin/bash
# make bench, hook part (issue 5, items 1 and 2): bench/hooks in a guarded cgroup and outside
# it, over loopback (a sink in the host namespace) and veth (a sink in the "internet" namespace).
# The conditions alternate operation by operation, inside one deployguard run: the guarded
# shell runs each operation itself and hands the same one to a runner outside the cgroup and to
# one in the floor's cgroup, so all see the same moment of this shared machine; who goes first
# rotates by round. The floor is the same hooks with programs that allow everything
# (bench/empty.bpf.c) and a seccomp filter like deployguard's (bench/hooks guard): what any
# design built on them pays here. All run on CPU 1, the sinks on CPU 0. Prints JSON lines
# {"cond": "plain"|"floor"|"guarded", "round", "path", "op", ...}; then, in one more guarded run
# with kernel.bpf_stats_enabled, {"stats": OP, "prog", "runs", "ns_per_run"} for each program
# that ran during OP (the stats cost a clock read per run, so that run is kept out of the
# ratios).
# Usage: bench/hooks.sh [ROUNDS]
set -euo pipefail
B=$(cd "$(dirname "$0")" && pwd)
T=$B/../tests
ROUNDS=${1:-15}
N=${N:-1000}
CG2=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
[ -n "$CG2" ] || { echo "hooks.sh: no cgroup2 mount in /proc/self/mounts" >&2; exit 1; }
W=$(mktemp -d /tmp/dg-bench.XXXXXX)
source "$T/world.sh"
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
# The floor's cgroup, in the cgroup v2 mount (/sys/fs/cgroup, or .../unified on a hybrid host).
FLOOR=$CG2/dg-floor-$WORLD_SFX
floor_down() { # its processes die with the world; the directory goes once they are gone
	for _ in $(seq 50); do [ ! -d "$FLOOR" ] || rmdir "$FLOOR" 2>/dev/null && return; sleep 0.1; done
	echo "hooks.sh: could not remove $FLOOR" >&2
}
trap 'sysctl -qw kernel.bpf_stats_enabled=$old_stats; world_down "$W"; floor_down; rm -rf "$W"' EXIT
world_up "$W" >&2
mkdir "$FLOOR"
printf 'github.com\n192.0.2.10\n' >"$W/list"
# In the background, nsenter, not in_inet/in_host: a function run there leaves a shell waiting
# on the server, which prints "Terminated" when world_down stops it (as it stops all of these).
host=--net=/run/netns/$NS_HOST inet=--net=/run/netns/$NS_INET
nsenter "$inet" taskset -c 0 "$B/hooks" sink 9000 & disown
nsenter "$host" taskset -c 0 "$B/hooks" sink 9000 & disown
# Runners that take operations from the guarded shell: one unguarded, one in the floor's cgroup.
runner='exec <"$1/req$3" >"$1/resp$3"; while read -r op; do taskset -c 1 "$2" $op || echo "{}"; done'
mkfifo "$W/req" "$W/resp" "$W/reqf" "$W/respf"
nsenter "$host" sh -c "$runner" sh "$W" "$B/hooks" "" & disown
nsenter "$host" "$B/hooks" guard "$FLOOR" "$B/empty.bpf.o" sh -c "$runner" sh "$W" "$B/hooks" f & disown
sleep 0.3

guarded() { in_host "$B/../deployguard" --upstream 198.18.0.1 -b "$W/list" -o /dev/null -- sh -c "$1"; }

cat >"$W/rounds.sh" <<'EOF2'
# In the guarded cgroup: ROUNDS N HOOKS
exec 3>"$W/req" 4<"$W/resp" 5>"$W/reqf" 6<"$W/respf"
tag() { sed "s/^{/{\"cond\": \"$1\", \"round\": $2, \"path\": \"$3\", /"; }
for r in $(seq "$1"); do
	case $((r % 3)) in # each condition takes each place in turn
	0) order="plain floor guarded" ;;
	1) order="floor guarded plain" ;;
	2) order="guarded plain floor" ;;
	esac
	for path in loopback:127.0.0.1 veth:198.18.0.1; do
		addr=${path#*:}
		for op in "connect $addr 9000 $2" "udp $addr 9000 $(($2 * 20))" \
			"sendto $addr 9000 $(($2 * 20))" "stream $addr 9000 256"; do
			for cond in $order; do
				case $cond in
				plain) echo "$op" >&3 && read -r line <&4 && echo "$line" ;;
				floor) echo "$op" >&5 && read -r line <&6 && echo "$line" ;;
				guarded) taskset -c 1 "$3" $op ;;
				esac | tag "$cond" "$r" "${path%%:*}"
			done
		done
	done
	taskset -c 1 "$3" blocked 192.0.2.10 80 "$2" | tag guarded "$r" veth
done
EOF2
guarded "W=$W sh $W/rounds.sh $ROUNDS $N $B/hooks"

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
# The snapshots are taken outside the guard (a guarded process may not reach programs by id),
# when the guarded shell asks, before and after each operation. Usage: stats_run LIST TAG OP...
stats_run() {
	local list=$1 tag=$2 script="exec 7>$W/sreq 8<$W/sack;" snapper i
	shift 2
	local ops=("$@")
	rm -f "$W/sreq" "$W/sack"
	mkfifo "$W/sreq" "$W/sack"
	(exec <"$W/sreq" >"$W/sack"; while read -r t; do eval "$snap" >"$W/snap.$t"; echo ok; done) &
	snapper=$!
	for i in "${!ops[@]}"; do
		script+="echo $i.0 >&7; read -r _ <&8; $B/hooks ${ops[$i]} >/dev/null; echo $i.1 >&7; read -r _ <&8;"
	done
	in_host "$B/../deployguard" --upstream 198.18.0.1 -b "$list" -o /dev/null -- sh -c "$script"
	wait "$snapper"
	for i in "${!ops[@]}"; do
		eval "$diff '${ops[$i]%% *}$tag' \"\$(cat $W/snap.$i.0)\" \"\$(cat $W/snap.$i.1)\""
	done
}
stats_run "$W/list" "" "connect 198.18.0.1 9000 $N" "udp 198.18.0.1 9000 $((N * 20))" \
	"sendto 198.18.0.1 9000 $((N * 20))" "stream 198.18.0.1 9000 512" "blocked 192.0.2.10 80 $N"
# What rules with a port cost per connect and send: the same list with 10,000 of them added
# (addresses of 198.19.0.0/16 and names, none of them matching, no traffic to any of them).
{
	cat "$W/list"
	for i in $(seq 0 9999); do echo "198.19.$((i / 256)).$((i % 256)):$((1024 + i))"; done
	for i in $(seq 0 99); do echo "svc$i.example.org:443/tcp"; done
	echo ":25/tcp"
} >"$W/ports"
stats_run "$W/ports" ", 10k port rules" "connect 198.18.0.1 9000 $N" "sendto 198.18.0.1 9000 $((N * 20))"
