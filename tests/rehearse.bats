#!/usr/bin/env bats
# Integration tests of outage rehearsals (issue 20): --connect-action and --block-action resolve
# in ordinary runs, then --rehearse, one run per dependency with that one down, through real
# lookups and connects in the namespace world of integration.bats. Needs root.

bats_require_minimum_version 1.5.0
load common

setup_file() {
	world_setup_file || return 1
	printf '192.0.2.10   # the old release host\n' >"$W/ip.txt"
	printf 'github.com   # we deploy GitHub\n' >"$W/gh.txt"
	# A connect and a UDP send to 192.0.2.10, each printing how it ended.
	cat >"$W/probe.py" <<-'PY'
		import errno, socket
		s = socket.socket()
		s.settimeout(3)
		try:
		    s.connect(("192.0.2.10", 80))
		    print("tcp-connected")
		except socket.timeout:
		    print("tcp-timeout")
		except OSError as e:
		    print("tcp-" + errno.errorcode[e.errno])
		u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		try:
		    u.sendto(b"x", ("192.0.2.10", 9))
		    print("udp-sent")
		except OSError as e:
		    print("udp-" + errno.errorcode[e.errno])
	PY
	# The deploy: it fails without pkgs.example.org (its client gives up after 3 s), gets past
	# github.com through a mirror, and hangs without api.github.com (a client with no timeout).
	cat >"$W/deploy.sh" <<-'SH'
		#!/bin/sh
		curl -fsS -m 3 -o /dev/null http://pkgs.example.org/pkg.txt || { echo "no package"; exit 3; }
		curl -fsS -m 3 -o /dev/null http://github.com/ ||
			curl -fsS -o /dev/null http://mirror.example.org/ || exit 4
		curl -sS -o /dev/null http://api.github.com/
		echo deployed
	SH
	chmod +x "$W/deploy.sh"
}

jq_() {
	python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))' "$1" "$2"
}

@test "--connect-action: a refused address fails with EPERM, with ECONNREFUSED at once, or hangs with its packets dropped; unguarded it answers" {
	run in_host python3 "$W/probe.py"
	[ "${lines[0]}" = tcp-connected ]
	run dg -b "$W/ip.txt" -- python3 "$W/probe.py"
	[ "$output" = $'tcp-EPERM\nudp-EPERM' ]
	run dg --connect-action eperm -b "$W/ip.txt" -- python3 "$W/probe.py"
	[ "$output" = $'tcp-EPERM\nudp-EPERM' ]
	run dg --connect-action refused -b "$W/ip.txt" -- python3 "$W/probe.py"
	[ "$output" = $'tcp-ECONNREFUSED\nudp-ECONNREFUSED' ]
	LOG=$W/log.drop
	run dg --connect-action drop -b "$W/ip.txt" -- python3 "$W/probe.py"
	[ "$output" = $'tcp-timeout\nudp-sent' ] # as into a black hole: nothing answers, nothing fails
	grep -q 'WARN IP BLOCKED reason=FromConnect blocked=true blockedAt=connect ip=192.0.2.10 port=80 ' "$LOG"
	grep -q 'WARN IP BLOCKED reason=FromConnect blocked=true blockedAt=connect ip=192.0.2.10 port=9 ' "$LOG"
	# the audit mode still lets it through
	run dg --audit --connect-action drop -b "$W/ip.txt" -- python3 "$W/probe.py"
	[ "${lines[0]}" = tcp-connected ]
}

@test "--block-action resolve: a blocked name resolves, and its addresses are refused at connect" {
	run dg --block-action resolve -b "$W/gh.txt" -- sh -c \
		'getent ahostsv4 github.com | head -n1; curl -sS -m 3 -o /dev/null http://github.com/; echo curl=$?'
	echo "$output"
	[[ "${lines[0]}" == "192.0.2.10 "* ]]
	[[ "$output" == *"curl=7" ]]
	grep -q 'WARN DNS BLOCKED reason=FromDNSRequest blocked=true blockedAt=connect domain=github.com\. ' "$LOG"
	grep -qE 'WARN IP BLOCKED reason=AddressOfBlockedName blocked=true blockedAt=connect domain=github.com\. ip=(192.0.2.10|2001:db8:2::10) port=80 ' "$LOG"
}

@test "--rehearse: a deploy that fails without one dependency, gets by without another, and hangs without a third: hard, soft, hang, each with the process that met it" {
	export GITHUB_STEP_SUMMARY=$W/step.md
	run --separate-stderr in_host "$DG" --upstream "$UPSTREAM4" --rehearse --outage blackhole \
		--rehearse-timeout 25 --report "$W/r.json" --graph "$W/r.dot" -- "$W/deploy.sh"
	echo "$stderr"
	[ "$status" -eq 121 ]
	[ -z "$output" ] # the runs' own output is the rehearsal's business
	[[ "$stderr" == *"rehearsal: 3 dependencies, 3 runs (the audit run took "*" s): 1 hang, 1 hard, 1 soft"* ]]
	# the table, worst first, its columns aligned
	table=$(grep -A3 '^  OUTCOME ' <<<"$stderr")
	[[ "$(sed -n 2p <<<"$table")" =~ ^\ \ hang\ +api.github.com\ +blackhole\ +stopped\ after\ 2[5-9].[0-9]\ s\ +pid\ [0-9]+:\ deploy.sh\ →\ curl\ +-$ ]]
	[[ "$(sed -n 3p <<<"$table")" =~ ^\ \ hard\ +pkgs.example.org\ +blackhole\ +exit\ 3\ after\ [0-9.]+\ s\ +pid\ [0-9]+:\ deploy.sh\ →\ curl\ +-github.com\ -api.github.com$ ]]
	[[ "$(sed -n 4p <<<"$table")" =~ ^\ \ soft\ +github.com\ +blackhole\ +\+[0-9.]+\ s\ +pid\ [0-9]+:\ deploy.sh\ →\ curl\ +\+mirror.example.org$ ]]
	[ "$(awk '{print index($0, " blackhole")}' <<<"$(tail -n3 <<<"$table")" | sort -u | wc -l)" -eq 1 ]
	[[ "$stderr" == *"an outage failed or hung COMMAND: exit 121"* ]]
	# the report: the audit run's, with the rehearsal
	python3 "$T/tools/report_check.py" "$W/r.json" "$T/../man/deployguard.8"
	run python3 - "$W/r.json" <<-'PY'
		import json, sys
		r = json.load(open(sys.argv[1]))
		assert r["run"]["audit"] and r["run"]["exitStatus"] == 0, r["run"]
		assert 0 < r["run"]["commandMs"] < r["run"]["durationMs"], r["run"]
		t = {x["dependency"]: x for x in r["rehearsal"]}
		assert sorted(t) == ["api.github.com", "github.com", "pkgs.example.org"], t
		hang, hard, soft = t["api.github.com"], t["pkgs.example.org"], t["github.com"]
		assert (hang["outcome"], hard["outcome"], soft["outcome"]) == ("hang", "hard", "soft")
		assert hang["exitStatus"] is None and hang["durationMs"] >= 25000, hang
		assert hard["exitStatus"] == 3 and 3000 <= hard["durationMs"] < 25000, hard
		assert soft["exitStatus"] == 0 and soft["extraMs"] >= 2500, soft
		assert soft["added"] == ["mirror.example.org"] and soft["missing"] == [], soft
		assert hard["missing"] == ["github.com", "api.github.com"] or sorted(hard["missing"]) == ["api.github.com", "github.com"], hard
		for x in t.values():
		    assert x["outage"] == "blackhole" and x["kind"] == "name" and x["met"], x
		    assert "curl" in x["process"]["cmdline"] and x["dependency"] in x["process"]["cmdline"], x
		assert r["rehearsalTimeoutMs"] == 25000 and r["rehearsalInterrupted"] is False
	PY
	echo "$output"
	[ "$status" -eq 0 ]
	# the graph: each dependency coloured by its outcome; the step summary, a table
	grep -qE 'd[0-9]+ \[color=orange, penwidth=2, xlabel="blackhole: hang"\];' "$W/r.dot"
	grep -qE 'd[0-9]+ \[color=red, penwidth=2, xlabel="blackhole: hard"\];' "$W/r.dot"
	grep -qE 'd[0-9]+ \[color=forestgreen, penwidth=2, xlabel="blackhole: soft"\];' "$W/r.dot"
	dot -Tsvg "$W/r.dot" >/dev/null
	grep -q '^### deployguard rehearsal: `.*deploy.sh` 1 hang, 1 hard, 1 soft$' "$W/step.md"
	grep -qF '| hang | `api.github.com` | blackhole | stopped after' "$W/step.md"
	[ "$(grep -c '^| ' "$W/step.md")" -eq 5 ]
}

@test "--rehearse --from-report with --rehearse-only and two outages: only that dependency, once per outage" {
	dg --report "$W/base.json" -- "$W/deploy.sh"
	run --separate-stderr in_host "$DG" --upstream "$UPSTREAM4" --rehearse --from-report "$W/base.json" \
		--rehearse-only pkgs.example.org --rehearse-only nowhere.example --outage nxdomain \
		--outage refused --report "$W/f.json" -- "$W/deploy.sh"
	echo "$stderr"
	[ "$status" -eq 121 ]
	[[ "$stderr" != *"an audit run"* ]]
	[[ "$stderr" == *"--rehearse-only nowhere.example: COMMAND did not reach it"* ]]
	[[ "$stderr" == *"rehearsal: 1 dependencies, 2 runs"* ]]
	grep -qE '^  hard +pkgs.example.org +nxdomain +exit 3 after' <<<"$stderr"
	grep -qE '^  hard +pkgs.example.org +refused +exit 3 after' <<<"$stderr"
	[ "$(jq_ "$W/f.json" "[(x['outage'], x['outcome']) for x in r['rehearsal']]")" = "[('nxdomain', 'hard'), ('refused', 'hard')]" ]
	# --rehearse-skip the one that fails: every other is soft or hangs
	run --separate-stderr in_host "$DG" --upstream "$UPSTREAM4" --rehearse --from-report "$W/base.json" \
		--rehearse-skip pkgs.example.org --rehearse-skip api.github.com --outage nxdomain -- "$W/deploy.sh"
	echo "$stderr"
	[ "$status" -eq 0 ]
	grep -qE '^  soft +github.com +nxdomain +' <<<"$stderr"
	[[ "$stderr" == *"1 dependencies, 1 runs"* ]]
}

@test "--rehearse: a deploy with no dependencies says so and exits 0; one that fails with everything up is not rehearsed" {
	run --separate-stderr dg --rehearse --report "$W/none.json" -- true
	echo "$stderr"
	[ "$status" -eq 0 ]
	[[ "$stderr" == *"COMMAND reached no name or address (of those chosen): nothing to rehearse"* ]]
	[ "$(jq_ "$W/none.json" "r['rehearsal']")" = "[]" ]
	run --separate-stderr dg --rehearse -- sh -c 'echo broken; exit 5'
	[ "$status" -eq 5 ]
	[[ "$stderr" == *"the audit run failed (exit 5): a rehearsal needs a COMMAND that succeeds with every dependency up"* ]]
	[[ "$stderr" == *"broken"* ]]
}

@test "--rehearse: SIGINT stops the current run and the rehearsal; the report keeps what was learned, and nothing is left behind" {
	# a background job starts with SIGINT ignored (and deployguard keeps it so): undo that
	nsenter --net="/run/netns/$NS_HOST" python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$DG" --upstream "$UPSTREAM4" --rehearse --outage blackhole \
		--rehearse-only api.github.com --report "$W/int.json" -- "$W/deploy.sh" 2>"$W/int.err" &
	pid=$!
	cg=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
	for i in $(seq 600); do [ -d "$cg/deployguard-rehearse-$pid-2" ] && break; sleep 0.1; done
	[ -d "$cg/deployguard-rehearse-$pid-2" ] # past the audit run, in the one that hangs
	wait_proc_in "$cg/deployguard-rehearse-$pid-2" '^curl .*api.github.com' # and hanging there
	kill -INT "$pid"
	wait_pid "$pid" 30 || st=$?
	cat "$W/int.err"
	[ "${st:-0}" -eq 130 ]
	grep -q 'rehearsal stopped by Interrupt after 0 runs' "$W/int.err"
	[ "$(jq_ "$W/int.json" "(r['rehearsalInterrupted'], r['rehearsal'], r['run']['exitStatus'])")" = "(True, [], 0)" ]
	! ls -d /tmp/deployguard-rehearse.* 2>/dev/null || false
	# stopped in its audit run, it has learned nothing: no report at all, rather than an empty one
	nsenter --net="/run/netns/$NS_HOST" "$DG" --upstream "$UPSTREAM4" --rehearse \
		--report "$W/int2.json" -- sleep 30 2>"$W/int2.err" &
	pid=$!
	wait_proc_in "$cg/deployguard-rehearse-$pid-1" '^sleep 30' # in its audit run
	kill -TERM "$pid"
	st=0
	wait_pid "$pid" 30 || st=$?
	cat "$W/int2.err"
	[ "$st" -eq 143 ]
	[ ! -e "$W/int2.json" ]
}

@test "--rehearse --block-doh: every run of the rehearsal blocks the public DoH resolvers, not only the audit run" {
	# each run appends how a connect to a public DoH resolver ended; nothing leaves the test's
	# namespaces (the host has no route out: unblocked, it fails with ENETUNREACH)
	# nxdomain and refused outages: a blackhole lets every refused connect through to drop it
	run --separate-stderr dg --rehearse --block-doh --rehearse-only pkgs.example.org \
		--outage nxdomain --outage refused -b "$W/gh.txt" -- sh -c 'python3 -c "import socket
try:
    socket.create_connection((\"8.8.8.8\", 443), timeout=3); print(\"open\")
except OSError as e:
    print(\"errno\", e.errno)" >>"$0/doh.runs"
		curl -fsS -m 3 -o /dev/null http://pkgs.example.org/pkg.txt' "$W"
	echo "$stderr"
	cat "$W/doh.runs"
	[ "$(wc -l <"$W/doh.runs")" -eq 3 ] # the audit run and a trial per outage
	[ "$(head -n1 "$W/doh.runs")" = "errno 101" ] # the audit run watches the policy
	# every trial refuses it, as its outage refuses: EPERM (nxdomain), ECONNREFUSED (refused)
	[ "$(tail -n +2 "$W/doh.runs" | tr '\n' ' ')" = "errno 1 errno 111 " ]
}
