#!/usr/bin/env bats
# Integration tests of the policy language (issue 21): exact, below-only and glob names and
# includes through real lookups, too broad allowlists, a blocklist's TLD warning, and the DoH side
# doors. Same world as integration.bats. Needs root.

bats_require_minimum_version 1.5.0
load common

setup_file() {
	world_setup_file || return 1
	mkdir -p "$W/sub"
	: >"$W/none.txt"
	printf '=github.com   # only the apex\ninclude sub/more.txt\n' >"$W/main.txt"
	printf '*.example.org   # below only\ndeploy-*.internal.example   # the deploy services\n' \
		>"$W/sub/more.txt"
	# connect and send to each PROTO:HOST:PORT, printing how it went: connected (or sent), EPERM
	# (refused by the guard), ECONNREFUSED (let through to a port where nothing listens)
	cat >"$W/ports.py" <<-'PY'
		import errno, socket, sys
		for arg in sys.argv[1:]:
		    proto, rest = arg.split(":", 1)
		    host, port = rest.rsplit(":", 1)
		    family = socket.AF_INET6 if ":" in host else socket.AF_INET
		    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
		    s = socket.socket(family, kind)
		    s.settimeout(3)
		    try:
		        if proto == "tcp":
		            s.connect((host.strip("[]"), int(port)))
		            r = "connected"
		        else:
		            s.sendto(b"x", (host.strip("[]"), int(port)))
		            r = "sent"
		    except OSError as e:
		        r = errno.errorcode.get(e.errno, str(e))
		    print(arg + "=" + r)
	PY
}

@test "policy names: =NAME, *.NAME and a glob in the first label, from an included file, judged through real lookups" {
	run dg -v -b "$W/main.txt" -- sh -c 'for n in github.com api.github.com pkgs.example.org \
		example.org deploy-api.internal.example; do getent hosts $n >/dev/null; echo "$n=$?"; done'
	echo "$output"
	[[ "$output" == *"github.com=2"*"api.github.com=0"*"pkgs.example.org=2"*"deploy-api.internal.example=2"* ]]
	[[ "$(blocked_line github.com.)" == *"rule=$W/main.txt:1 ruleComment=\"only the apex\""* ]]
	[[ "$(blocked_line pkgs.example.org.)" == *"rule=$W/sub/more.txt:1 ruleComment=\"below only\""* ]]
	[[ "$(blocked_line deploy-api.internal.example.)" == *"rule=$W/sub/more.txt:2 ruleComment=\"the deploy services\""* ]]
	! grep -q 'DNS BLOCKED.*domain=example.org\. ' "$LOG" || false # *.example.org is not example.org
	! grep -q 'DNS BLOCKED.*domain=api.github.com\. ' "$LOG" || false
	# and the blocked names' addresses at connect: the apex's, not api.github.com's
	run dg -b "$W/main.txt" -- sh -c 'curl -sS -m 3 -o /dev/null http://192.0.2.10/; echo "apex=$?"
		curl -fsS -m 3 -o /dev/null http://192.0.2.11/; echo "api=$?"'
	[[ "$output" == *"apex=7"*"api=0"* ]]
}

@test "policy breadth: an allowlist that allows too much is refused with FILE:LINE and what it would allow; --allow-broad takes it; a blocklist's TLD is one warning" {
	printf 'pkgs.example.org\n*.org\n' >"$W/broad.txt"
	run dg -a "$W/broad.txt" -- touch "$W/ran"
	[ "$status" -eq 125 ]
	[ ! -e "$W/ran" ]
	[[ "$output" == *"$W/broad.txt:2: '*.org' would allow every name under org, a public suffix (name the hosts, or give --allow-broad)"* ]]
	printf 'pkgs.example.org\n0.0.0.0/0\n' >"$W/broad4.txt"
	run dg -a "$W/broad4.txt" -- true
	[[ "$output" == *"$W/broad4.txt:2: '0.0.0.0/0' would allow every IPv4 address"* ]]
	run dg -a "$W/broad.txt" --allow-broad -- getent hosts pkgs.example.org
	[ "$status" -eq 0 ]
	printf 'org   # no .org at all\n' >"$W/tld.txt"
	run dg -b "$W/tld.txt" -- getent hosts pkgs.example.org
	[ "$status" -eq 2 ]
	[[ "$output" == *"$W/tld.txt:1: 'org' blocks every name under .org: is that meant?"* ]]
	[ "$(grep -c "blocks every name under" <<<"$output")" -eq 1 ]
}

@test "DoH side doors: the canary is NXDOMAIN, DDR is refused, and --block-doh blocks the public resolvers by name and address; --check says what it does not catch" {
	run dg -b "$W/none.txt" -- sh -c 'dig +tries=1 +time=3 @198.18.0.1 use-application-dns.net A | grep -o "status: [A-Z]*"
		dig +tries=1 +time=3 @198.18.0.1 _dns.resolver.arpa TYPE64 | grep -o "status: [A-Z]*"'
	echo "$output"
	[[ "$output" == *"status: NXDOMAIN"*"status: REFUSED"* ]]
	grep -q 'WARN DNS BLOCKED reason=DoHCanary blocked=true blockedAt=dns domain=use-application-dns.net\. ' "$LOG"
	grep -q 'WARN DNS BLOCKED reason=DDRDiscovery blocked=true blockedAt=dns domain=_dns.resolver.arpa\. ' "$LOG"
	# --block-doh: nothing of this leaves the test's namespaces (the host has no route out)
	LOG=$W/log.doh
	run dg --block-doh -b "$W/none.txt" -- sh -c 'getent hosts dns.google; echo "name=$?"
		python3 -c "import socket
try:
    socket.create_connection((\"8.8.8.8\", 443), timeout=3); print(\"addr=open\")
except OSError as e:
    print(\"addr=\" + str(e.errno))"'
	echo "$output"
	[[ "$output" == *"name=2"*"addr=1"* ]] # EPERM at connect, before any route is looked up
	[[ "$(blocked_line dns.google.)" == *'rule=built-in:doh-resolvers.txt:8 ruleComment="Google Public DNS (DoH, DoT)"'* ]]
	grep -q 'WARN IP BLOCKED reason=FromConnect blocked=true blockedAt=connect ip=8.8.8.8 port=443 .*rule=built-in:doh-resolvers.txt:9' "$LOG"
	run "$DG" --check --block-doh
	[[ "$output" == *"DoH side doors"*"blocked"*"a private DoH endpoint on an allowed host is not"* ]]
	run dg --block-doh -a "$W/none.txt" -- true
	[[ "$output" == *"--block-doh is for blocklists"* ]]
}

@test "policy ports: NAME:PORT/PROTO, ADDR:PORT, [V6]:PORT and :PORT/PROTO block only their ports, the name resolving, an address pinned in the script too; an allowlist allows only those ports" {
	printf 'github.com:80/tcp   # no web to github\n192.0.2.30:8080   # the other port\n:9999/udp\n' \
		>"$W/ports.txt"
	run dg -b "$W/ports.txt" -- sh -c 'getent hosts github.com >/dev/null; echo "dns=$?"
		python3 "$0" tcp:192.0.2.10:80 tcp:192.0.2.10:8080 udp:192.0.2.10:80 \
			"tcp:[2001:db8:2::10]:80" tcp:192.0.2.30:8080 tcp:192.0.2.30:80 \
			udp:192.0.2.31:9999 tcp:192.0.2.31:9999 "udp:[2001:db8:2::30]:9999"' "$W/ports.py"
	echo "$output"
	[ "${lines[0]}" = dns=0 ] # the name resolves: its port rule decides at connect
	[ "${lines[1]}" = tcp:192.0.2.10:80=EPERM ]
	[ "${lines[2]}" = tcp:192.0.2.10:8080=ECONNREFUSED ]
	[ "${lines[3]}" = udp:192.0.2.10:80=sent ] # the rule is /tcp
	[ "${lines[4]}" = "tcp:[2001:db8:2::10]:80=EPERM" ]
	[ "${lines[5]}" = tcp:192.0.2.30:8080=EPERM ]
	[ "${lines[6]}" = tcp:192.0.2.30:80=connected ]
	[ "${lines[7]}" = udp:192.0.2.31:9999=EPERM ]
	[ "${lines[8]}" = tcp:192.0.2.31:9999=ECONNREFUSED ]
	[ "${lines[9]}" = "udp:[2001:db8:2::30]:9999=EPERM" ]
	log_line "WARN IP BLOCKED reason=FromConnect blocked=true blockedAt=connect domain=github.com\\. ip=192.0.2.10 port=80 .*rule=$W/ports.txt:1 ruleComment=\"no web to github\""
	log_line "WARN IP BLOCKED reason=FromConnect blocked=true blockedAt=connect ip=192.0.2.30 port=8080 .*rule=$W/ports.txt:2 ruleComment=\"the other port\""
	log_line "WARN IP BLOCKED reason=FromConnect blocked=true blockedAt=connect ip=192.0.2.31 port=9999 .*rule=$W/ports.txt:3"
	! grep -q 'DNS BLOCKED.*domain=github.com\. ' "$LOG" || false
	# an address pinned in the script, its name never asked: the name's port rule still holds
	run dg -b "$W/ports.txt" -- python3 "$W/ports.py" tcp:192.0.2.10:80 tcp:192.0.2.10:8080
	[ "$output" = $'tcp:192.0.2.10:80=EPERM\ntcp:192.0.2.10:8080=ECONNREFUSED' ]
	# an allowlist: the same forms allow only their ports
	printf 'github.com:80/tcp\n192.0.2.30:8080\n' >"$W/ports-allow.txt"
	run dg -a "$W/ports-allow.txt" -- sh -c 'getent hosts github.com >/dev/null; echo "dns=$?"
		getent hosts pkgs.example.org >/dev/null; echo "other=$?"
		python3 "$0" tcp:github.com:80 tcp:github.com:8080 udp:github.com:80 \
			tcp:192.0.2.30:8080 tcp:192.0.2.30:80' "$W/ports.py"
	echo "$output"
	[ "$output" = $'dns=0\nother=2\ntcp:github.com:80=connected\ntcp:github.com:8080=EPERM\nudp:github.com:80=EPERM\ntcp:192.0.2.30:8080=ECONNREFUSED\ntcp:192.0.2.30:80=EPERM' ]
	log_line "WARN IP BLOCKED reason=NotAllowed blocked=true blockedAt=connect .*ip=192.0.2.10 port=8080 "
}
