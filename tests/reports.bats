#!/usr/bin/env bats
# Integration tests of what a run says it depended on (issue 18): the classes, the JSON report
# and its documented fields, the graph, manifests made from service audits, and a report that
# survives a signal or a failing deployguard. Same world as integration.bats. Needs root.

bats_require_minimum_version 1.5.0
load common

setup_file() {
	world_setup_file || return 1
	printf 'github.com   # we deploy GitHub\n' >"$W/gh.txt"
	: >"$W/none.txt"
}

# A field of the report $1, by a Python expression on r (the parsed report).
jq_() {
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2"
}

# The destination of the report $1 named $2, as JSON.
dest() {
	jq_ "$1" "json.dumps([d for d in r['destinations'] if d['name'] == '$2' or d['address'] == '$2'][0])"
}

@test "the bundled deploy: one direct, one hidden, one transient dependency, each class in the log, the summary, the report (every documented field) and the graph" {
	ex=$T/../examples
	run dg -b "$ex/blocklist.txt" --depends "$ex/depends.txt" --report "$W/demo.json" \
		--graph "$W/demo.dot" -- "$ex/deploy.sh"
	[ "$status" -eq 0 ]
	[[ "$output" == *"release download failed"*"update check failed"*"out of reach"*"deploy: done"* ]]
	[[ "$(blocked_line github.com.)" == *"rule=$ex/blocklist.txt:6 ruleComment=\"we deploy GitHub: it is down when we need it most\" class=direct" ]]
	[[ "$(blocked_line api.github.com.)" == *'cmd="curl -fsS -m 5 -o /dev/null -K '*"class=hidden" ]]
	[[ "$(blocked_line deploy-api.internal.example.)" == *"reason=TransientDependency "*"rule=$ex/depends.txt:4 "*"via=github.com class=transient" ]]
	# the summary: class and why, in their columns
	grep -qE '^ +[0-9]+ blocked +direct +dns +github.com\. +we deploy GitHub: it is down' "$LOG"
	grep -qE '^ +[0-9]+ blocked +hidden +dns +api.github.com\. +we deploy GitHub' "$LOG"
	grep -qE '^ +[0-9]+ blocked +transient +dns +deploy-api.internal.example\. +via github.com +by "getent hosts deploy-api.internal.example "' "$LOG"
	python3 "$T/tools/report_check.py" "$W/demo.json" "$T/../man/deployguard.8"
	# the report: each destination's class, rule, the process that asked, its lineage and fate
	run python3 - "$W/demo.json" "$ex" <<-'PY'
		import json, sys
		r, ex = json.load(open(sys.argv[1])), sys.argv[2]
		d = {x["name"]: x for x in r["destinations"] if x["kind"] == "dns"}
		assert r["run"]["command"] == [ex + "/deploy.sh"] and r["run"]["exitStatus"] == 0, r["run"]
		assert not r["run"]["failed"] and r["run"]["mode"] == "blocklist"
		assert [p["file"] for p in r["run"]["policies"]] == [ex + "/blocklist.txt"]
		assert len(r["run"]["depends"][0]["sha256"]) == 64
		gh, api, svc = d["github.com"], d["api.github.com"], d["deploy-api.internal.example"]
		assert (gh["class"], api["class"], svc["class"]) == ("direct", "hidden", "transient")
		assert svc["via"] == "github.com" and svc["reason"] == "TransientDependency", svc
		assert gh["rule"] == ex + "/blocklist.txt:6" and gh["verdict"] == "blocked", gh
		curl = gh["processes"][0]
		assert curl["exe"].endswith("/curl") and curl["ancestry"] == "deploy.sh \u2192 curl", curl
		assert curl["fate"] == "exited" and curl["status"] == 6, curl  # could not resolve
		getent = svc["processes"][0]
		assert getent["fate"] == "exited" and getent["status"] == 2, getent
		top = getent["ancestorPids"][-1]
		ran = {(e["pid"], (e["cmdline"].split() or [""])[0]) for e in r["executed"]}
		assert (curl["pid"], "curl") in ran and (getent["pid"], "getent") in ran, ran
		assert all(e["ppid"] == top for e in r["executed"] if e["pid"] in (curl["pid"], getent["pid"]))
		print("ok")
	PY
	echo "$output"
	[ "$output" = ok ]
	# the graph renders; the blocked paths (and only they) are red, the transient one dashed
	dot -Tsvg "$W/demo.dot" -o "$W/demo.svg"
	grep -q '<svg' "$W/demo.svg"
	[ "$(grep -c -- '-> d[0-9]* \[color=red\]' "$W/demo.dot")" -eq 3 ]
	grep -qE 'd[0-9]+ -> d[0-9]+ \[style=dashed, color=red\]' "$W/demo.dot"
}

@test "a report's processes: the ancestry of a grandchild, a killed process, an allowed address" {
	run dg -b "$W/gh.txt" --report "$W/f.json" -- sh -c '
		sh -c "getent hosts github.com; true"
		python3 -c "import os, socket
try: socket.getaddrinfo(\"api.github.com\", 80)
except OSError: pass
os.kill(os.getpid(), 9)"
		getent ahosts pkgs.example.org'
	[ "$status" -eq 0 ]
	run python3 - "$W/f.json" <<-'PY'
		import json, sys
		r = json.load(open(sys.argv[1]))
		d = {x["name"]: x for x in r["destinations"] if x["kind"] == "dns"}
		g = d["github.com"]["processes"][0]
		assert g["ancestry"] == "sh \u2192 sh \u2192 getent" and len(g["ancestorPids"]) == 2, g
		k = d["api.github.com"]["processes"][0]
		assert k["fate"] == "killed" and k["signal"] == 9, k
		p = d["pkgs.example.org"]
		assert p["verdict"] == "allowed" and p["class"] == "direct" and p["rule"] is None, p
		assert "192.0.2.30" in p["addresses"] and "2001:db8:2::30" in p["addresses"], p
		print("ok")
	PY
	echo "$output"
	[ "$output" = ok ]
	python3 "$T/tools/report_check.py" "$W/f.json" "$T/../man/deployguard.8"
}

# An audit of one service in attach mode, its report in $W/$1.json: the cgroup's process asks
# for the names $2..., then the audit is stopped with SIGTERM.
audit_service() {
	local svc=$1 name
	shift
	scratch_cgroup "$svc"
	LOG=$W/log.$svc
	dg_bg --audit -b "$W/none.txt" --service-name "$svc" --report "$W/$svc.json" --cgroup "$CG"
	wait_line "guarding $CG until SIGINT" "$LOG"
	for name in "$@"; do in_cg getent hosts "$name" >/dev/null; done
	kill -TERM "$(cat "$W/dg.pid")"
	wait_pid "$!"
	rm -f "$W/dg.pid"
}

@test "--merge-reports of two service audits yields the manifest that then blocks the transient call" {
	audit_service deploy-api.internal.example github.com objects.githubusercontent.com
	audit_service mirror.example.org pkgs.example.org
	[ "$(jq_ "$W/mirror.example.org.json" "r['run']['service']")" = mirror.example.org ]
	run "$DG" --merge-reports "$W/deploy-api.internal.example.json" "$W/mirror.example.org.json"
	[ "$status" -eq 0 ]
	[ "${lines[1]}" = "deploy-api.internal.example github.com objects.githubusercontent.com" ]
	[ "${lines[2]}" = "mirror.example.org pkgs.example.org" ]
	printf '%s\n' "$output" >"$W/manifest.txt"
	LOG=$W/log.deploy
	run dg -b "$W/gh.txt" --depends "$W/manifest.txt" -- sh -c \
		'getent hosts deploy-api.internal.example; echo "api=$?"; getent hosts mirror.example.org'
	[[ "$output" == *"api=2"*"192.0.2.31"* ]]
	[[ "$(blocked_line deploy-api.internal.example.)" == *"reason=TransientDependency "*"rule=$W/manifest.txt:2 via=github.com class=transient" ]]
	# what is not a service audit's report is refused, naming the file
	run "$DG" --merge-reports "$W/gh.txt"
	[ "$status" -eq 125 ]
	[[ "$output" == *"--merge-reports $W/gh.txt: line 1: "*"not a JSON report"* ]]
	run dg --report "$W/nosvc.json" -- true
	run "$DG" --merge-reports "$W/nosvc.json"
	[ "$status" -eq 125 ]
	[[ "$output" == *"$W/nosvc.json: run.service is not set: audit the service with --service-name NAME"* ]]
}

@test "a report survives SIGTERM, and a failing deployguard still writes what it knew" {
	dg_bg -b "$W/gh.txt" --report "$W/t.json" -- sh -c 'getent hosts github.com; touch "$0/asked"; exec sleep 60' "$W"
	wait_for "$W/asked"
	kill -TERM "$(cat "$W/dg.pid")"
	st=0
	wait_pid "$!" || st=$?
	[ "$st" -eq 143 ] # the command's 128 + SIGTERM
	python3 "$T/tools/report_check.py" "$W/t.json" "$T/../man/deployguard.8"
	[ "$(jq_ "$W/t.json" "(r['run']['exitStatus'], r['run']['failed'], [d['verdict'] for d in r['destinations'] if d['name'] == 'github.com'])")" = "(143, False, ['blocked'])" ]
	[ -z "$(ls "$W"/t.json.* 2>/dev/null)" ] # no temporary file left
	# deployguard itself fails: the report says so and why
	printf 'github.com\nnot a rule\n' >"$W/bad.txt"
	run dg -b "$W/bad.txt" --report "$W/fail.json" -- touch "$W/ran"
	[ "$status" -eq 125 ]
	[ ! -e "$W/ran" ]
	[ "$(jq_ "$W/fail.json" "(r['run']['exitStatus'], r['run']['failed'], r['destinations'])")" = "(125, True, [])" ]
	[[ "$(jq_ "$W/fail.json" "r['run']['warnings'][0]")" == "$W/bad.txt:2: one rule per line, found 'not a rule'" ]]
	# a report that cannot be written stops the run before the command starts
	run dg -b "$W/gh.txt" --report /nonexistent/dir/r.json -- touch "$W/ran"
	[ "$status" -eq 125 ]
	[ ! -e "$W/ran" ]
	[[ "$output" == *"--report /nonexistent/dir/r.json: cannot write a file beside it: No such file or directory"* ]]
	# a bad manifest line is named
	printf 'deploy-api.internal.example\n' >"$W/baddeps.txt"
	run dg -b "$W/gh.txt" --depends "$W/baddeps.txt" -- touch "$W/ran"
	[ "$status" -eq 125 ]
	[[ "$output" == *"$W/baddeps.txt:1: deploy-api.internal.example: no dependency: write SERVICE DEPENDENCY..."* ]]
}

@test "--write-allowlist: an audit's allowlist lets the same deploy through with nothing blocked, and blocks a new name" {
	cat >"$W/d.sh" <<-'EOF2'
		#!/bin/sh
		curl -fsS -m 3 -o /dev/null http://pkgs.example.org/pkg.txt || exit 1
		getent hosts release.example.org >/dev/null || exit 2 # a CNAME into another name
		getent hosts a.example.org b.example.org >/dev/null
		getent hosts c1.cdn.example.org c2.cdn.example.org c3.cdn.example.org >/dev/null
		curl -fsS -m 3 -o /dev/null http://192.0.2.33/pkg.txt || exit 3 # by address, no name
		[ -z "${NEW:-}" ] || getent hosts mirror.example.org || exit 4
	EOF2
	chmod +x "$W/d.sh"
	run dg --audit -a "$W/none.txt" --write-allowlist "$W/allow.txt" -- "$W/d.sh"
	[ "$status" -eq 0 ]
	cat "$W/allow.txt"
	grep -qE '^pkgs.example.org +# curl -fsS -m 3 -o /dev/null http://pkgs.example.org/pkg.txt $' "$W/allow.txt"
	grep -qE '^objects.githubusercontent.com +# getent hosts release.example.org $' "$W/allow.txt"
	grep -qE '^192.0.2.33 +# curl' "$W/allow.txt"
	# three names under a parent of three labels become the parent; two under example.org stay
	grep -qE '^cdn.example.org +# getent hosts c1.cdn' "$W/allow.txt"
	! grep -q '^c1.cdn' "$W/allow.txt" || false
	grep -q '^a.example.org ' "$W/allow.txt"
	! grep -q '^example.org ' "$W/allow.txt" || false
	# sorted, each once
	[ "$(grep -v '^#' "$W/allow.txt" | awk '{print $1}')" = "$(grep -v '^#' "$W/allow.txt" | awk '{print $1}' | sort -u)" ]
	LOG=$W/log.allowed
	run dg -a "$W/allow.txt" -- "$W/d.sh"
	[ "$status" -eq 0 ]
	grep -q "deployguard: summary: .*, 0 blocked or would be" "$LOG"
	LOG=$W/log.new
	run in_host env NEW=1 "$DG" --upstream "$UPSTREAM4" -o "$LOG" -a "$W/allow.txt" -- "$W/d.sh"
	[ "$status" -eq 4 ]
	[[ "$(blocked_line mirror.example.org.)" == *"firewallMethod=allowlist"* ]]
	grep -qE "^ +[0-9]+ blocked +direct +dns +mirror.example.org\." "$LOG"
	# without --audit the option is refused: a run that blocks does not show what the deploy needs
	run dg -b "$W/gh.txt" --write-allowlist "$W/x.txt" -- true
	[ "$status" -eq 125 ]
	[[ "$output" == *"--write-allowlist needs --audit"* ]]
}

@test "GITHUB_STEP_SUMMARY: the run is appended as a valid Markdown table, a command's pipes and newlines escaped; unset, nothing is written" {
	printf 'earlier step\n' >"$W/step.md"
	run in_host env GITHUB_STEP_SUMMARY="$W/step.md" "$DG" --upstream "$UPSTREAM4" -o "$LOG" \
		-b "$W/gh.txt" -- sh -c 'getent hosts github.com "$(printf "a|b\140c\nd")"
			getent hosts pkgs.example.org; true'
	[ "$status" -eq 0 ]
	cat "$W/step.md"
	[ "$(head -n1 "$W/step.md")" = "earlier step" ]
	grep -q '^### deployguard: `sh` exit 0, 2 destinations, 1 blocked$' "$W/step.md"
	python3 - "$W/step.md" <<-'PY'
		import re, sys
		rows = [l for l in open(sys.argv[1]).read().splitlines() if l.startswith("|")]
		cells = [[c.strip() for c in re.split(r"(?<!\\)\|", l)[1:-1]] for l in rows]
		assert cells[0] == ["verdict", "destination", "class", "rule", "command"], cells[0]
		assert cells[1] == ["---"] * 5 and all(len(c) == 5 for c in cells), cells
		byname = {c[1]: c for c in cells[2:]}
		gh = byname["`github.com`"]
		assert gh[0] == "blocked" and gh[2] == "direct" and gh[3].endswith("gh.txt:1 (we deploy GitHub)"), gh
		assert byname["`pkgs.example.org`"][:3] == ["allowed", "`pkgs.example.org`", "direct"]
		assert "a\\|b'c d" in gh[4], gh[4]  # the pipe escaped, the backtick and newline gone
	PY
	# not set: no file is made
	run in_host env -u GITHUB_STEP_SUMMARY HOME="$W" "$DG" --upstream "$UPSTREAM4" -o "$LOG" -b "$W/gh.txt" -- true
	[ "$status" -eq 0 ]
	[ "$(ls "$W"/*.md)" = "$W/step.md" ]
}

@test "--syslog: the run's lines reach a syslog socket with their severity" {
	# A /dev of the test's own, in a mount namespace of its own, whose log is the test's socket.
	mkdir "$W/sdev"
	run unshare -m --propagation private sh -c '
		W=$1; shift
		mount -t tmpfs tmpfs "$W/sdev" || exit 90
		for n in null zero full random urandom; do
			touch "$W/sdev/$n" && mount --bind "/dev/$n" "$W/sdev/$n" || exit 91
		done
		python3 -c "
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2] + \".ready\", \"w\").close()
with open(sys.argv[2], \"ab\", buffering=0) as out:
    while True:
        out.write(s.recv(65536) + b\"\\n\")" "$W/sdev/log" "$W/syslog.out" &
		srv=$!
		for _ in $(seq 50); do [ -e "$W/syslog.out.ready" ] && break; sleep 0.1; done
		mount --bind "$W/sdev" /dev || exit 92
		"$@"; st=$?
		sleep 0.5; kill "$srv"; exit "$st"' sh "$W" nsenter --net="/run/netns/$NS_HOST" \
		"$DG" --upstream "$UPSTREAM4" -o "$LOG" --syslog -b "$W/gh.txt" -- getent hosts github.com
	echo "$output"
	[ "$status" -eq 2 ]
	cat "$W/syslog.out"
	# daemon (3) * 8 + warning (4) = 28, + info (6) = 30; the same text as the log's lines
	grep -qE '^<28>.*deployguard\[[0-9]+\]: WARN DNS BLOCKED reason=FromDNSRequest .*domain=github.com\. .*class=direct$' "$W/syslog.out"
	grep -qE '^<30>.*deployguard\[[0-9]+\]: deployguard: summary: [0-9]+ lookups' "$W/syslog.out"
	grep -qE '^<30>.*deployguard\[[0-9]+\]: +[0-9]+ blocked +direct +dns +github.com\.' "$W/syslog.out"
	[ "$(grep -c 'WARN DNS BLOCKED' "$W/syslog.out")" -eq "$(grep -c 'WARN DNS BLOCKED' "$LOG")" ]
}

@test "--history: the second run of a job flags only the destination the first did not reach (new=true), and --fail-on-new fails it" {
	db=$W/h.db
	run dg --history "$db" --job web --fail-on-new -b "$W/gh.txt" -- getent ahosts pkgs.example.org
	[ "$status" -eq 0 ] # the first run is the baseline: nothing is new
	[[ "$output" == *'history: job "web" has 0 known destinations in 0 runs (SQLite); its first run: this one is the baseline'* ]]
	! grep -q 'new=true' "$LOG" || false
	LOG=$W/log.second
	run dg -v --history "$db" --job web --report "$W/h.json" -b "$W/gh.txt" -- sh -c \
		'getent ahosts pkgs.example.org >/dev/null; getent hosts github.com; getent ahosts mirror.example.org'
	[ "$status" -eq 0 ]
	[[ "$(blocked_line github.com.)" == *" class=direct new=true" ]]
	grep -q 'INFO DNS ALLOWED .*domain=mirror.example.org. .* new=true' "$LOG"
	! grep 'domain=pkgs.example.org. .*new=true' "$LOG" || false
	grep -qE '^ +[0-9]+ allowed +direct +new +dns +mirror.example.org\.' "$LOG"
	grep -qE '^ +[0-9]+ allowed +direct +- +dns +pkgs.example.org\.' "$LOG"
	[ "$(jq_ "$W/h.json" "sorted(d['name'] for d in r['destinations'] if d['new'])")" = "['github.com', 'mirror.example.org']" ]
	[ "$(jq_ "$W/h.json" "(r['run']['job'], r['run']['history'] == '$db')")" = "('web', True)" ]
	python3 "$T/tools/report_check.py" "$W/h.json" "$T/../man/deployguard.8"
	# a third run that reaches only known destinations passes --fail-on-new; a new one fails it
	LOG=$W/log.third
	run dg --history "$db" --job web --fail-on-new -b "$W/gh.txt" -- getent ahosts mirror.example.org
	[ "$status" -eq 0 ]
	run dg --history "$db" --job web --fail-on-new -b "$W/gh.txt" -- getent ahosts short.example.org
	[ "$status" -eq 122 ]
	[[ "$output" == *'--fail-on-new: 1 destination no earlier run of job "web" reached: exit 122' ]]
	# another job has a baseline of its own
	run dg --history "$db" --job other --fail-on-new -b "$W/gh.txt" -- getent ahosts short.example.org
	[ "$status" -eq 0 ]
	[ "$(sqlite3 "$db" "select count(*) from runs where job = 'web'")" -eq 4 ]
}

@test "--history: two runs at once share one database without losing a run or a destination; a corrupt or unwritable one is an error that names the file" {
	db=$W/c.db
	for i in 1 2 3 4; do
		in_host "$DG" --upstream "$UPSTREAM4" -o "$W/log.c$i" --history "$db" --job "j$((i % 2))" \
			-b "$W/gh.txt" -- getent ahosts "c$i.example.org" &
		eval "p$i=\$!"
	done
	for i in 1 2 3 4; do eval "wait_pid \$p$i" || [ $? -eq 2 ]; done
	[ "$(sqlite3 "$db" 'select count(*) from runs')" -eq 4 ]
	[ "$(sqlite3 "$db" "select group_concat(what, ' ') from (select what from seen where job = 'j1' order by what)")" = "c1.example.org c3.example.org" ]
	[ "$(sqlite3 "$db" 'pragma journal_mode')" = wal ]
	# not a database: said with the file, and the command never runs
	head -c 4096 /dev/urandom >"$W/bad.db"
	run dg --history "$W/bad.db" -b "$W/gh.txt" --report "$W/bad.json" -- touch "$W/ran"
	[ "$status" -eq 125 ]
	[ ! -e "$W/ran" ]
	[[ "$output" == *"--history $W/bad.db: cannot set it up: file is not a database (not an SQLite database: give another file)"* ]]
	[ "$(jq_ "$W/bad.json" "r['run']['failed']")" = True ] # and the report says so
	run dg --history /nonexistent/dir/h.db -b "$W/gh.txt" -- touch "$W/ran"
	[ "$status" -eq 125 ]
	[[ "$output" == *"--history /nonexistent/dir/h.db: cannot open it: unable to open database file"* ]]
	run dg --fail-on-new -b "$W/gh.txt" -- true
	[ "$status" -eq 125 ]
	[[ "$output" == *"--job and --fail-on-new need --history DB"* ]]
}

@test "--log-format json: each line carries every field of the text line, under the same name and with the same value" {
	ex=$T/../examples
	printf '192.0.2.10   # the old release host\n' >"$W/ip.txt"
	for fmt in text json; do
		LOG=$W/fields.$fmt
		LOG=$W/fields.base dg --history "$W/fields-$fmt.db" --job fields -- true # a baseline, so lines say new=true
		run dg --log-format "$fmt" -v --history "$W/fields-$fmt.db" --job fields -b "$ex/blocklist.txt" -b "$W/ip.txt" \
			--depends "$ex/depends.txt" -- sh -c "$ex/deploy.sh; curl -s -m 2 http://192.0.2.10/"
		[ "$status" -eq 7 ]
	done
	run python3 "$T/tools/log_fields.py" "$W/fields.text" "$W/fields.json"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *" text lines, each matched"* ]]
	[ "$(grep -c "new=true" "$W/fields.text")" -gt 3 ]
	grep -q "IP BLOCKED.*ruleComment=\"the old release host\"" "$W/fields.text"
	grep -q "via=github.com class=transient" "$W/fields.text"
}
