#!/usr/bin/env bats
# Integration tests of --history on both backends (issue 35): SQLite files, and a real PostgreSQL
# server these tests start and stop themselves (Debian's postgresql: initdb in a temporary
# directory, listening on a unix socket there only). Baseline, fleet-wide new, concurrency,
# schema upgrade, a server that is down or stopped, and --history-report. Runs on "other hosts"
# are deployguard in a UTS namespace with a hostname of its own. Same world as integration.bats.

bats_require_minimum_version 1.5.0
load common

PGPORT_=55432

setup_file() {
	world_setup_file || return 1
	printf 'github.com\n' >"$W/gh.txt"
	PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
	PGD=$(mktemp -d /tmp/dg-pg.XXXXXX)
	export PGBIN PGD
	chown postgres "$PGD"
	runuser -u postgres -- "$PGBIN/initdb" -D "$PGD/data" -A trust -U postgres --no-sync \
		>"$PGD/initdb.log" 2>&1 || { cat "$PGD/initdb.log" >&3; return 1; }
	# a role that must give its password (from PGPASSFILE), before the trust lines
	sed -i '1i local all fleet scram-sha-256' "$PGD/data/pg_hba.conf"
	pg start || return 1
	psql_ -c "CREATE ROLE fleet LOGIN PASSWORD 'fleet-secret'" >/dev/null
}

teardown_file() {
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGD/data" -m immediate stop >/dev/null 2>&1
	rm -rf "$PGD"
	source "$T/world.sh"
	world_down "$W"
	rm -rf "$W"
}

# The server: start or stop it (pg_ctl waits for it).
pg() {
	runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGD/data" -l "$PGD/server.log" -w \
		-o "-k $PGD -p $PGPORT_ -c listen_addresses='' -c fsync=off" "$1" >/dev/null ||
		{ cat "$PGD/server.log" >&2; return 1; }
}

psql_() { psql -X -q -A -t -h "$PGD" -p "$PGPORT_" -U postgres "$@"; }

# A fresh history called $2 on backend $1 (sqlite or pg): its target.
history_db() {
	if [ "$1" = sqlite ]; then
		echo "$W/$2.db"
	else
		psql_ -c "CREATE DATABASE $2" >/dev/null && echo "postgresql:///$2?host=$PGD&port=$PGPORT_&user=postgres"
	fi
}

# SQL on history $1 (a file or a URI).
sql() {
	case $1 in
	postgresql:*) psql -X -q -A -t -d "$1" -c "$2" ;;
	*) sqlite3 -separator '|' "$1" "$2" ;;
	esac
}

# deployguard as host $1, with its log in $LOG.
dg_on() {
	local host=$1
	shift
	in_host unshare -u -- sh -c 'hostname "$0" && exec "$@"' "$host" \
		"$DG" --upstream "$UPSTREAM4" -o "$LOG" "$@"
}

@test "--history on SQLite and PostgreSQL: the first run is the baseline, a later one flags what no earlier run reached, --fail-on-new exits 122" {
	for b in sqlite pg; do
		db=$(history_db $b base_$b)
		LOG=$W/log.base.$b.1
		run dg_on host-a --history "$db" --job web --fail-on-new -b "$W/gh.txt" -- getent ahosts pkgs.example.org
		[ "$status" -eq 0 ] # the first run is the baseline: nothing is new
		[[ "$output" == *'history: job "web" has 0 known destinations in 0 runs ('*'); its first run: this one is the baseline'* ]]
		! grep -q 'new=true' "$LOG" || false
		LOG=$W/log.base.$b.2
		run dg_on host-a -v --history "$db" --job web -b "$W/gh.txt" -- sh -c \
			'getent ahosts pkgs.example.org >/dev/null; getent hosts github.com; getent ahosts mirror.example.org'
		[ "$status" -eq 0 ]
		[[ "$(blocked_line github.com.)" == *" class=direct new=true" ]]
		grep -q 'INFO DNS ALLOWED .*domain=mirror.example.org. .* new=true' "$LOG"
		! grep 'domain=pkgs.example.org. .*new=true' "$LOG" || false
		LOG=$W/log.base.$b.3
		run dg_on host-a --history "$db" --job web --fail-on-new -b "$W/gh.txt" -- getent ahosts mirror.example.org
		[ "$status" -eq 0 ]
		run dg_on host-a --history "$db" --job web --fail-on-new -b "$W/gh.txt" -- getent ahosts short.example.org
		[ "$status" -eq 122 ]
		[ "$(sql "$db" "select count(*) from runs where job = 'web' and host = 'host-a'")" -eq 4 ]
		[ "$(sql "$db" "select runs || ' ' || first_run || ' ' || last_run from seen where what = 'pkgs.example.org'")" = "2 1 2" ]
		[ "$(sql "$db" "select verdict from seen_on where what = 'github.com'")" = blocked ]
	done
}

@test "--history is fleet-wide: what host A reached is not new on host B, what only B reaches is; each run records its host, and --history-report counts hosts and runs" {
	for b in sqlite pg; do
		db=$(history_db $b fleet_$b)
		LOG=$W/log.fleet.$b.a
		run dg_on host-a --history "$db" --job deploy -b "$W/gh.txt" -- sh -c 'getent ahosts pkgs.example.org; getent hosts github.com'
		[ "$status" -eq 2 ]
		LOG=$W/log.fleet.$b.b
		run dg_on host-b --history "$db" --job deploy --fail-on-new -b "$W/gh.txt" -- getent ahosts pkgs.example.org
		[ "$status" -eq 0 ] # reached on host-a: not new on host-b
		! grep -q 'new=true' "$LOG" || false
		run dg_on host-b -v --history "$db" --job deploy --fail-on-new -b "$W/gh.txt" -- getent ahosts mirror.example.org
		[ "$status" -eq 122 ]
		grep -q 'INFO DNS ALLOWED .*domain=mirror.example.org. .* new=true' "$LOG"
		agg="group_concat(host, ',')"
		[ $b = sqlite ] || agg="string_agg(host, ',' order by id)"
		[ "$(sql "$db" "select $agg from (select id, host from runs order by id) r")" = "host-a,host-b,host-b" ]
		run "$DG" --history "$db" --history-report
		[ "$status" -eq 0 ]
		[[ "${lines[0]}" =~ ^JOB\ +KIND\ +DESTINATION\ +VERDICTS\ +FIRST\ SEEN\ +LAST\ SEEN\ +RUNS\ +HOSTS$ ]]
		[[ "$output" =~ deploy\ +dns\ +pkgs\.example\.org\ +allowed\ +20[0-9-]+T[0-9:]+Z\ +20[0-9-]+T[0-9:]+Z\ +2\ +2 ]]
		[[ "$output" =~ deploy\ +dns\ +github\.com\ +blocked\ +[^\ ]+\ +[^\ ]+\ +1\ +1 ]]
		run "$DG" --history "$db" --history-report --job deploy --since 1 --log-format json
		[ "$status" -eq 0 ]
		[ "${#lines[@]}" -eq 3 ]
		python3 -c 'import json, sys
rows = {r["destination"]: r for r in map(json.loads, sys.stdin)}
r = rows["pkgs.example.org"]
assert (r["job"], r["kind"], r["verdicts"], r["runs"], r["hosts"]) == ("deploy", "dns", ["allowed"], 2, 2), r
assert r["firstSeen"] <= r["lastSeen"] and r["lastSeen"].endswith("Z"), r
assert rows["github.com"]["verdicts"] == ["blocked"]' <<<"$output"
		run "$DG" --history "$db" --history-report --job nosuchjob
		[ "$status" -eq 0 ]
		[[ "$output" == *"no destination recorded for job \"nosuchjob\""* ]]
	done
}

@test "--history: 6 runs at once on 6 hosts record every run and every destination exactly once; runs that all meet a destination first all flag it, and agree on its first run" {
	for b in sqlite pg; do
		db=$(history_db $b many_$b)
		LOG=$W/log.many.$b.base
		run dg_on host-0 --history "$db" --job j -- getent ahosts pkgs.example.org
		[ "$status" -eq 0 ]
		pids=()
		for i in 1 2 3 4 5 6; do
			LOG=$W/log.many.$b.$i dg_on "host-$i" -v --history "$db" --job j -- sh -c \
				"for n in shared1 shared2 shared3 only$i; do getent hosts \$n.example.org; done; true" &
			pids+=($!)
		done
		for p in "${pids[@]}"; do wait_pid "$p" 120; done
		[ "$(sql "$db" "select count(*) from runs where job = 'j'")" -eq 7 ]
		[ "$(sql "$db" "select count(distinct host) from runs")" -eq 7 ]
		[ "$(sql "$db" "select count(*) from seen where job = 'j'")" -eq 10 ] # pkgs, 3 shared, 6 only
		for n in shared1 shared2 shared3; do
			[ "$(sql "$db" "select runs from seen where what = '$n.example.org'")" -eq 6 ]
			[ "$(sql "$db" "select count(*) from seen_on where what = '$n.example.org'")" -eq 6 ]
			# the least run that recorded it, whichever committed first
			[ "$(sql "$db" "select first_run = (select min(id) from runs where host <> 'host-0') from seen where what = '$n.example.org'")" = "$([ $b = pg ] && echo t || echo 1)" ]
			for i in 1 2 3 4 5 6; do # none of the six missed it
				grep -q "domain=$n.example.org. .*new=true" "$W/log.many.$b.$i"
			done
		done
		[ "$(sql "$db" "select count(*) from seen where runs = 1 and what like 'only%'")" -eq 6 ]
	done
}

@test "--history: an older schema is migrated on open (SQLite's version 1, its runs kept); a newer one is refused by name and nothing is written" {
	db=$W/v1.db
	sqlite3 "$db" "CREATE TABLE runs(id INTEGER PRIMARY KEY, job TEXT NOT NULL, start_ms INTEGER NOT NULL, status INTEGER NOT NULL, destinations INTEGER NOT NULL);
CREATE TABLE seen(job TEXT NOT NULL, kind TEXT NOT NULL, what TEXT NOT NULL, first_run INTEGER NOT NULL, last_run INTEGER NOT NULL, runs INTEGER NOT NULL, PRIMARY KEY(job, kind, what));
INSERT INTO runs VALUES(1, 'old', 1700000000000, 0, 1);
INSERT INTO seen VALUES('old', 'dns', 'pkgs.example.org', 1, 1, 1);"
	run dg_on host-a --history "$db" --job old --fail-on-new -- getent ahosts pkgs.example.org
	[ "$status" -eq 0 ] # known from the version 1 run: not new
	[[ "$output" == *"history $db: schema upgraded from version 1 to 2"* ]]
	[ "$(sql "$db" "select value from dg_meta where key = 'schema'")" = 2 ]
	[ "$(sql "$db" "select group_concat(host, ',') from runs")" = ",host-a" ]
	[ "$(sql "$db" "select first_ms || ' ' || runs from seen")" = "1700000000000 2" ]
	for b in sqlite pg; do
		db=$(history_db $b newer_$b)
		run dg_on host-a --history "$db" --job j -- true # made at version 2
		[ "$status" -eq 0 ]
		sql "$db" "update dg_meta set value = '3' where key = 'schema'"
		run dg_on host-a --history "$db" --job j -- touch "$W/ran.$b"
		[ "$status" -eq 125 ]
		[[ "$output" == *"--history $db: its schema is version 3, written by a newer deployguard (this one knows up to 2): upgrade deployguard here, nothing was written"* ]]
		[ ! -e "$W/ran.$b" ]
		[ "$(sql "$db" "select count(*) from runs")" -eq 1 ]
	done
}

@test "--history on a PostgreSQL server that is down or stopped never holds up the guard: guarded as usual, said once, COMMAND's status; --fail-on-new exits 120; the password comes from PGPASSFILE, never the URI" {
	db=$(history_db pg down)
	down="postgresql:///down?host=$PGD&port=$((PGPORT_ + 1))&user=postgres" # nothing listens
	run dg_on host-a --history "$down" --job j -b "$W/gh.txt" -- sh -c 'getent hosts github.com; exit 3'
	[ "$status" -eq 3 ]
	[ "$(grep -c "history.*unavailable" <<<"$output")" -eq 1 ]
	[[ "$output" == *"--history $down: unavailable (cannot connect: "*"): the run is guarded as usual; it is compared with no earlier run and recorded nowhere"* ]]
	blocked_line github.com. # the guard held
	run dg_on host-a --history "$down" --job j --fail-on-new -- true
	[ "$status" -eq 120 ]
	[[ "$output" == *"--fail-on-new: the history was unavailable, so nothing was checked: exit 120" ]]
	# a server that takes the connection and never answers: bounded by the 5 s timeout
	run dg_on host-a --history "$db" --job j -- true # made, while it answers
	[ "$status" -eq 0 ]
	kill -STOP "$(head -n1 "$PGD/data/postmaster.pid")"
	start=$(date +%s)
	run dg_on host-a --history "$db" --job j -b "$W/gh.txt" -- getent hosts github.com
	kill -CONT "$(head -n1 "$PGD/data/postmaster.pid")"
	[ "$status" -eq 2 ]
	[ $(($(date +%s) - start)) -lt 30 ]
	[[ "$output" == *"unavailable (cannot connect: "*"timeout expired)"* ]]
	blocked_line github.com.
	# passwords: from the environment's file, and a URI that holds one is refused
	fleet="postgresql:///fleetdb?host=$PGD&port=$PGPORT_&user=fleet"
	psql_ -c "CREATE DATABASE fleetdb OWNER fleet" >/dev/null # the server is back
	run dg_on host-a --history "$fleet" --job p -- true
	[ "$status" -eq 0 ]
	[[ "$output" == *"unavailable (cannot connect: "*"password"* ]]
	printf '*:*:*:fleet:fleet-secret\n' >"$W/pgpass" && chmod 0600 "$W/pgpass"
	PGPASSFILE=$W/pgpass run dg_on host-a --history "$fleet" --job p -- true
	[ "$status" -eq 0 ]
	[[ "$output" != *unavailable* ]]
	run dg_on host-a --history "postgresql://fleet:fleet-secret@/fleetdb?host=$PGD&port=$PGPORT_" --job p -- touch "$W/ran"
	[ "$status" -eq 125 ]
	[[ "$output" == *"the URI holds a password, which ps shows to every user: put it in ~/.pgpass (or PGPASSFILE, PGPASSWORD) and leave it out of the URI"* ]]
	[ ! -e "$W/ran" ]
}
