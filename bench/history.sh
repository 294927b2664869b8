#!/bin/bash
# make bench, history part (issue 35), in the test world, with a PostgreSQL server of its own
# listening on 127.0.0.1 of the world's host namespace (where deployguard runs):
#   run:   one guarded run that looks up 20 names, without --history, with an SQLite file and
#          with the PostgreSQL server, alternating (ROUNDS rounds): a run's added time
#   fleet: 20 runs at once, each on a host of its own (a UTS namespace), each reaching 200
#          destinations (100 every run reaches, 100 its own), without and with the server
#          (FLEET_ROUNDS rounds); the server's rows are checked: 20 runs, 2,100 destinations
# JSON lines {"part", "cond", "round", "wall_s"}.
# Usage: bench/history.sh [ROUNDS [FLEET_ROUNDS]]
set -euo pipefail
B=$(cd "$(dirname "$0")" && pwd)
T=$B/../tests
ROUNDS=${1:-9}
FLEET_ROUNDS=${2:-3}
W=$(mktemp -d /tmp/dg-bench.XXXXXX)
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
PORT=55433
source "$T/world.sh"
cleanup() {
	in_host runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -m immediate stop \
		>/dev/null 2>&1 || true
	world_down "$W"
	rm -rf "$W"
}
trap cleanup EXIT
world_up "$W" >&2
chmod 0755 "$W" && mkdir "$W/pg" && chown postgres "$W/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$W/pg/data" -A trust -U postgres >/dev/null
in_host runuser -u postgres -- "$PGBIN/pg_ctl" -D "$W/pg/data" -l "$W/pg/log" -w \
	-o "-k $W/pg -p $PORT -c listen_addresses=127.0.0.1" start >/dev/null
in_host psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -c 'CREATE DATABASE run' \
	-c 'CREATE DATABASE fleet' -c 'CREATE DATABASE fleetnone'
PG="postgresql://postgres@127.0.0.1:$PORT"
DG=("$B/../deployguard" --upstream 198.18.0.1 -o "$W/log")
LOOKUPS='for i in $(seq 20); do getent hosts name$i.example.org; done; true'
in_host "${DG[@]}" -- true || { cat "$W/log" >&2; exit 1; } # warm-up: fills the compile cache

timed() { # PART COND ROUND COMMAND...: one JSON line
	local part=$1 cond=$2 round=$3 t0 t1
	shift 3
	t0=$(date +%s.%N)
	"$@" >/dev/null 2>>"$W/err"
	t1=$(date +%s.%N)
	printf '{"part": "%s", "cond": "%s", "round": %d, "wall_s": %s}\n' "$part" "$cond" "$round" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}')"
}
for r in $(seq "$ROUNDS"); do
	timed run none "$r" in_host "${DG[@]}" -- sh -c "$LOOKUPS"
	timed run sqlite "$r" in_host "${DG[@]}" --history "$W/run.db" --job bench -- sh -c "$LOOKUPS"
	timed run pg "$r" in_host "${DG[@]}" --history "$PG/run" --job bench -- sh -c "$LOOKUPS"
done

# 20 hosts at once, 200 destinations each; $1: the history options (none: no history).
fleet() {
	local pids=() i opts=("$@")
	[ $# -eq 0 ] || opts+=(--job fleet)
	for i in $(seq 20); do
		in_host unshare -u -- sh -c 'hostname "$0" && exec "$@"' "bench-$i" \
			"$B/../deployguard" --upstream 198.18.0.1 -o "$W/log.$i" "${opts[@]}" -- sh -c "for n in \$(seq 100); do getent hosts s\$n.example.org; \
getent hosts h$i-\$n.example.org; done; true" >/dev/null 2>>"$W/err" &
		pids+=($!)
	done
	for i in "${pids[@]}"; do wait "$i"; done
}
for r in $(seq "$FLEET_ROUNDS"); do
	timed fleet none "$r" fleet
	in_host psql -X -q -h 127.0.0.1 -p "$PORT" -U postgres -d fleet \
		-c 'DROP TABLE IF EXISTS runs, seen, seen_on, dg_meta' 2>/dev/null
	timed fleet pg "$r" fleet --history "$PG/fleet"
	got=$(in_host psql -X -A -t -h 127.0.0.1 -p "$PORT" -U postgres -d fleet \
		-c "SELECT (SELECT count(*) FROM runs) || ' ' || (SELECT count(*) FROM seen) || ' ' ||
		(SELECT count(*) FROM seen_on) || ' ' || (SELECT max(runs) FROM seen)")
	[ "$got" = "20 2100 4000 20" ] || { echo "bench/history.sh: fleet rows: $got (want 20 2100 4000 20)" >&2; cat "$W/err" >&2; exit 1; }
done
