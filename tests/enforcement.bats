#!/usr/bin/env bats
# Integration tests of enforcement (issue 3): the addresses of blocked names, allowlist and strict
# modes with learned addresses, DNS over TLS, raw and packet sockets, the egress backstop, and
# --block-action. Same world as integration.bats. Needs root.

bats_require_minimum_version 1.5.0
load common

setup_file() {
	world_setup_file || return 1
	# Names only: every address below is refused because deployguard resolved it.
	printf 'github.com\ngithubusercontent.com\nv6only.example.org\n' >"$W/names.txt"
	printf 'pkgs.example.org\nshort.example.org\nv6only.example.org\n' >"$W/allow.txt"
}

# The regex for a refusal's log line: WHAT is "IP", "SOCKET" or "DNS"; then the fields from
# reason on, up to and including pid=PID cmd="...COMMAND...".
refusal() {
	echo "^WARN $1 BLOCKED reason=$2 blocked=true blockedAt=$3 $4 pid=$5 cmd=\"([^\"]*$6|\\[$6\\])"
}

@test "a hard-coded address, an /etc/hosts pin, curl --resolve, IPv4-mapped and IPv6: github.com's addresses fail at once" {
	run dg -b "$W/names.txt" -- sh -c '
		sh -c "echo \$\$ >$0/p.hard; exec curl -sS -m 5 http://192.0.2.10/"; echo "hard=$?"
		echo "192.0.2.10 github.com" >$0/hosts
		unshare -m sh -c "mount --bind $0/hosts /etc/hosts && echo \$\$ >$0/p.hosts && exec curl -sS -m 5 http://github.com/"; echo "hosts=$?"
		sh -c "echo \$\$ >$0/p.resolve; exec curl -sS -m 5 --resolve github.com:80:192.0.2.10 http://github.com/"; echo "resolve=$?"
		sh -c "echo \$\$ >$0/p.mapped; exec curl -sS -m 5 -g http://[::ffff:192.0.2.10]/"; echo "mapped=$?"
		sh -c "echo \$\$ >$0/p.v6; exec curl -sS -m 5 -g http://[2001:db8:2::10]/"; echo "v6=$?"
		curl -fsS -m 5 http://192.0.2.30/pkg.txt' "$W"
	[ "$status" -eq 0 ]
	for k in hard hosts resolve mapped v6; do [[ "$output" == *"$k=7"* ]]; done
	[[ "$output" == *"package index"* ]]
	for k in hard hosts resolve; do
		log_line "$(refusal IP AddressOfBlockedName connect 'domain=github.com. ip=192.0.2.10 port=80' "$(cat "$W/p.$k")" curl)"
	done
	log_line "$(refusal IP AddressOfBlockedName connect 'domain=github.com. ip=::ffff:192.0.2.10 port=80' "$(cat "$W/p.mapped")" curl)"
	log_line "$(refusal IP AddressOfBlockedName connect 'domain=github.com. ip=2001:db8:2::10 port=80' "$(cat "$W/p.v6")" curl)"
	grep -q 'firewallMethod=blocklist' "$LOG"
}

@test "an IPv6-only blocked name: no answer, and its address is refused" {
	run dg -b "$W/names.txt" -- sh -c '
		getent ahosts v6only.example.org; echo "getent=$?"
		sh -c "echo \$\$ >$0/p.v6only; exec curl -sS -m 5 -g http://[2001:db8:2::40]/"; echo "curl=$?"' "$W"
	[[ "$output" == *"getent=2"* && "$output" == *"curl=7"* ]]
	blocked_line v6only.example.org.
	log_line "$(refusal IP AddressOfBlockedName connect 'domain=v6only.example.org. ip=2001:db8:2::40 port=80' "$(cat "$W/p.v6only")" curl)"
}

@test "DNS over TLS to the resolver is refused at connect, IPv4 and IPv6; outside the cgroup it connects" {
	cat >"$W/dot.py" <<-'EOF'
		import socket, sys, time
		for addr in ("198.18.0.1", "2001:db8:1::1"):
		    try:
		        socket.create_connection((addr, 853), timeout=3)
		        print(addr, "connected")
		    except PermissionError:
		        print(addr, "EPERM")
		    except OSError as e:
		        print(addr, e.__class__.__name__)
		time.sleep(float(sys.argv[1]))
	EOF
	run dg -b "$W/names.txt" -- sh -c 'echo $$ >"$0/p.dot"; exec /usr/bin/python3 "$0/dot.py" 0.3' "$W"
	[ "${lines[0]}" = "198.18.0.1 EPERM" ]
	[ "${lines[1]}" = "2001:db8:1::1 EPERM" ]
	log_line "$(refusal IP DNSOverTLS connect 'ip=198.18.0.1 port=853' "$(cat "$W/p.dot")" /usr/bin/python3)"
	log_line "$(refusal IP DNSOverTLS connect 'ip=2001:db8:1::1 port=853' "$(cat "$W/p.dot")" /usr/bin/python3)"
	run in_host /usr/bin/python3 "$W/dot.py" 0
	[ "${lines[0]}" = "198.18.0.1 connected" ]
}

@test "any resolver address on the command line, and DNS over TCP, still go through the proxy" {
	run dg -b "$W/names.txt" -- sh -c '
		sh -c "echo \$\$ >$0/p.alt; exec dig +time=3 +tries=1 @192.0.2.99 github.com"
		sh -c "echo \$\$ >$0/p.tcp; exec dig +tcp +time=3 +tries=1 @198.18.0.1 api.github.com"
		sh -c "echo \$\$ >$0/p.v6; exec dig +time=3 +tries=1 @2001:db8:1::1 objects.githubusercontent.com"
		dig +short +tcp +time=3 +tries=1 @192.0.2.99 pkgs.example.org' "$W"
	[ "$status" -eq 0 ]
	[ "$(grep -c 'status: NXDOMAIN' <<<"$output")" -eq 3 ]
	[ "${lines[-1]}" = 192.0.2.30 ]
	[[ "$(blocked_line github.com.)" == *"pid=$(cat "$W/p.alt") cmd=\"dig +time=3 +tries=1 @192.0.2.99 github.com \""* ]]
	[[ "$(blocked_line api.github.com.)" == *"pid=$(cat "$W/p.tcp") cmd=\"dig +tcp "* ]]
	[[ "$(blocked_line objects.githubusercontent.com.)" == *"pid=$(cat "$W/p.v6") cmd=\"dig "* ]]
}

@test "CNAME, SRV and HTTPS answers that lead to a blocked name are blocked, and its address learned" {
	run dg -b "$W/names.txt" -- sh -c '
		dig +time=3 +tries=1 release.example.org | grep -o "status: [A-Z]*"
		dig +time=3 +tries=1 SRV _deploy._tcp.example.org | grep -o "status: [A-Z]*"
		dig +time=3 +tries=1 HTTPS svc.example.org | grep -o "status: [A-Z]*"
		curl -sS -m 5 http://192.0.2.12/; echo "curl=$?"'
	[ "${lines[0]}" = "status: NXDOMAIN" ]
	[ "${lines[1]}" = "status: NXDOMAIN" ]
	[ "${lines[2]}" = "status: NXDOMAIN" ]
	[[ "$output" == *"curl=7"* ]]
	[ "$(grep -c 'reason=FromDNSResponse .*domain=github.com. .*cmd="dig ' "$LOG")" -eq 2 ]
	log_line 'reason=FromDNSResponse .*domain=objects.githubusercontent.com. .*cmd="dig '
	log_line 'WARN IP BLOCKED reason=AddressOfBlockedName .*domain=objects.githubusercontent.com. ip=192.0.2.12 port=80 '
}

@test "raw IP sockets and packet sockets are refused at creation, in the command and its children" {
	run dg -b "$W/names.txt" -- sh -c 'sh -c "echo \$\$ >$0/p.raw; exec /usr/bin/python3 -c \"
import socket, time
for fam, typ, proto, name in ((socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP, \\\"raw4\\\"),
                              (socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6, \\\"raw6\\\"),
                              (socket.AF_PACKET, socket.SOCK_RAW, 0, \\\"packet\\\"),
                              (socket.AF_PACKET, socket.SOCK_DGRAM, 0, \\\"packet-dgram\\\")):
    try:
        socket.socket(fam, typ, proto)
        print(name, \\\"created\\\")
    except PermissionError:
        print(name, \\\"EPERM\\\")
time.sleep(0.3)\""' "$W"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf 'raw4 EPERM\nraw6 EPERM\npacket EPERM\npacket-dgram EPERM')" ]
	pid=$(cat "$W/p.raw")
	[ "$(grep -cE "$(refusal SOCKET RawSocket socket '' "$pid" /usr/bin/python3 | sed 's/socket  pid/socket pid/')" "$LOG")" -eq 2 ]
	log_line "^WARN TAMPER reason=SocketFamily blocked=true pid=$pid cmd=\"/usr/bin/python3 .*tried=\"socket\(AF_PACKET, SOCK_RAW, 0\)\""
	log_line "^WARN TAMPER reason=SocketFamily blocked=true pid=$pid cmd=\"/usr/bin/python3 .*tried=\"socket\(AF_PACKET, SOCK_DGRAM, 0\)\""
}

@test "the egress backstop drops what a socket connected before deployguard attached sends" {
	local cg
	cg=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)/dg-pre-$WORLD_SFX
	mkdir "$cg"
	cat >"$W/pre.py" <<-'EOF'
		import os, socket, sys, time
		w = sys.argv[1]
		u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
		u.connect(("198.18.0.1", 53))
		u.settimeout(2)
		t = socket.create_connection(("192.0.2.10", 80), timeout=2)
		t.settimeout(2)
		open(w + "/pre.ready", "w").write(str(os.getpid()))
		while not os.path.exists(w + "/pre.go"):
		    time.sleep(0.05)
		try:
		    u.send(bytes.fromhex("123401000001000000000000066769746875620363636f6d0000010001"))
		    print("dns", "answered" if u.recv(512) else "empty")
		except PermissionError:
		    print("dns refused")  # a UDP packet dropped at egress fails the send
		except socket.timeout:
		    print("dns dropped")
		t.send(b"GET / HTTP/1.0\r\n\r\n")  # queued: TCP retransmits until it gives up
		try:
		    print("http", "answered" if t.recv(100) else "closed")
		except socket.timeout:
		    print("http dropped")
		sys.stdout.flush()
		open(w + "/pre.done", "w").close()
	EOF
	in_host sh -c 'echo $$ >"$0/cgroup.procs"; exec /usr/bin/python3 "$1/pre.py" "$1"' "$cg" "$W" >"$W/pre.out" 2>&1 &
	for _ in $(seq 100); do [ -e "$W/pre.ready" ] && break; sleep 0.1; done
	pid=$!
	run dg --cgroup "$cg" -b "$W/names.txt" -- sh -c 'touch "$0/pre.go"
		for i in $(seq 100); do [ -e "$0/pre.done" ] && exit 0; sleep 0.1; done; exit 1' "$W"
	wait_pid "$pid"
	rmdir "$cg"
	[ "$status" -eq 0 ]
	[ "$(cat "$W/pre.out")" = "$(printf 'dns refused\nhttp dropped')" ]
	# the sockets are older than the programs: deployguard noted their owner at attach
	pid=$(cat "$W/pre.ready")
	log_line "^WARN DNS BLOCKED reason=BypassedProxy blocked=true blockedAt=egress ip=198.18.0.1 port=53 pid=$pid cmd=\"/usr/bin/python3 "
	log_line "^WARN IP BLOCKED reason=AddressOfBlockedName blocked=true blockedAt=egress domain=github.com. ip=192.0.2.10 port=80 pid=$pid cmd=\"/usr/bin/python3 "
}

@test "allowlist: allowed names work, others are blocked, and a learned address expires after TTL + grace unless a connection holds it" {
	cat >"$W/ttl.py" <<-'EOF'
		import socket, time
		addr = socket.getaddrinfo("short.example.org", 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
		held = socket.create_connection((addr, 80), timeout=2)
		socket.create_connection((addr, 80), timeout=2).close()
		print("within ttl: connected")
		time.sleep(3.5)  # TTL 1 s + grace 1 s have passed
		try:
		    socket.create_connection((addr, 80), timeout=2)
		    print("after ttl: connected")
		except PermissionError:
		    print("after ttl: EPERM")
		held.sendall(b"GET /pkg.txt HTTP/1.0\r\n\r\n")
		reply = b""
		while True:
		    chunk = held.recv(4096)
		    if not chunk:
		        break
		    reply += chunk
		print("held connection:", "answered" if b"package index" in reply else "no answer")
		time.sleep(0.3)
	EOF
	in_host sysctl -qw net.ipv4.ping_group_range="0 0" # ICMP datagram sockets, in this netns only
	run dg -a "$W/allow.txt" --ttl-grace 1 -- sh -c '
		curl -fsS -m 5 http://pkgs.example.org/pkg.txt
		curl -fsS -m 5 -g http://v6only.example.org/pkg.txt
		getent hosts github.com; echo "github=$?"
		sh -c "echo \$\$ >$0/p.unknown; exec curl -sS -m 5 http://192.0.2.31/"; echo "unknown=$?"
		/usr/bin/python3 -c "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b\"x\", (\"192.0.2.31\", 9)); print(\"udp sent\")
except PermissionError:
    print(\"udp EPERM\")
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
try:
    s.sendto(b\"\\x08\\0\\0\\0\\0\\0\\0\\1\", (\"192.0.2.31\", 0)); print(\"icmp sent\")
except PermissionError:
    print(\"icmp EPERM\")"
		sh -c "echo \$\$ >$0/p.ttl; exec /usr/bin/python3 $0/ttl.py"' "$W"
	[ "$status" -eq 0 ]
	[ "$(grep -c 'package index' <<<"$output")" -eq 2 ]
	[[ "$output" == *"github=2"* && "$output" == *"unknown=7"* && "$output" == *"udp EPERM"* ]]
	[[ "$output" == *"icmp EPERM"* ]]
	[[ "$output" == *"within ttl: connected"*"after ttl: EPERM"*"held connection: answered"* ]]
	line=$(blocked_line github.com.)
	[[ "$line" == *"firewallMethod=allowlist"* && "$line" != *"rule="* ]]
	log_line "$(refusal IP NotAllowed connect 'ip=192.0.2.31 port=80' "$(cat "$W/p.unknown")" curl)"
	log_line '^WARN IP BLOCKED reason=NotAllowed .*ip=192.0.2.31 port=9 .*firewallMethod=allowlist'
	log_line '^WARN IP BLOCKED reason=NotAllowed blocked=true blockedAt=egress ip=192.0.2.31 port=0 pid=[0-9]+ cmd="/usr/bin/python3 '
	log_line "$(refusal IP NotAllowed connect 'domain=short.example.org. ip=192.0.2.33 port=80' "$(cat "$W/p.ttl")" /usr/bin/python3)"
}

@test "--strict: a blocklist, and only addresses learned from allowed answers" {
	run dg --strict -b "$W/names.txt" -- sh -c '
		curl -fsS -m 5 http://mirror.example.org/pkg.txt
		sh -c "echo \$\$ >$0/p.unknown; exec curl -sS -m 5 http://192.0.2.30/"; echo "unknown=$?"
		getent hosts github.com; echo "github=$?"' "$W"
	[ "$status" -eq 0 ]
	[[ "$output" == *"package index"*"unknown=7"*"github=2"* ]]
	log_line "$(refusal IP NotAllowed connect 'ip=192.0.2.30 port=80' "$(cat "$W/p.unknown")" curl)"
	grep -q 'firewallMethod=strict' "$LOG"
}

@test "--block-action: nxdomain, refused and servfail over UDP and TCP; drop answers nothing" {
	for act in nxdomain refused servfail; do
		LOG=$W/log.action-$act
		run dg -b "$W/names.txt" --block-action "$act" -- sh -c '
			dig +time=3 +tries=1 github.com | grep -o "status: [A-Z]*"
			dig +tcp +time=3 +tries=1 github.com | grep -o "status: [A-Z]*"'
		want=$(echo "$act" | tr a-z A-Z)
		[ "$output" = "$(printf 'status: %s\nstatus: %s' "$want" "$want")" ]
	done
	LOG=$W/log.action-drop
	run dg -b "$W/names.txt" --block-action drop -- sh -c '
		dig +time=1 +tries=1 github.com; echo "udp=$?"
		dig +tcp +time=1 +tries=1 github.com; echo "tcp=$?"
		dig +short +time=3 +tries=1 pkgs.example.org'
	[[ "$output" == *"timed out"*"udp=9"*"tcp=9"* ]]
	[ "${lines[-1]}" = 192.0.2.30 ]
	[ "$(grep -c 'WARN DNS BLOCKED reason=FromDNSRequest blocked=true .*domain=github.com. ' "$LOG")" -eq 2 ]
	run dg -b "$W/names.txt" --block-action sometimes -- true
	[ "$status" -eq 125 ]
	[[ "$output" == *"invalid --block-action 'sometimes'"* ]]
	run dg -b "$W/names.txt" -a "$W/allow.txt" -- touch "$W/ran"
	[ "$status" -eq 125 ]
	[[ "$output" == *"-a (allowlist) and -b (blocklist) exclude each other"* ]]
	[ ! -e "$W/ran" ]
}

@test "--audit: every would-be refusal of the policy is logged with blocked=false, and nothing of it is refused; the guard's refusals hold" {
	run dg --audit -b "$W/names.txt" -- sh -c '
		curl -fsS -m 5 -o /dev/null http://192.0.2.10/pkg.txt; echo "hard=$?"
		/usr/bin/python3 -c "
import socket
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
socket.create_connection((\"198.18.0.1\", 853), timeout=3)
print(\"all created\")
try:
    socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
except PermissionError:
    print(\"packet EPERM\")"'
	[ "$status" -eq 0 ]
	[[ "$output" == *"hard=0"*"all created"*"packet EPERM"* ]]
	log_line '^WARN IP BLOCKED reason=AddressOfBlockedName blocked=false blockedAt=connect domain=github.com. ip=192.0.2.10 port=80 '
	log_line '^WARN SOCKET BLOCKED reason=RawSocket blocked=false '
	log_line '^WARN TAMPER reason=SocketFamily blocked=true .*tried="socket\(AF_PACKET, SOCK_RAW, 0\)"' # the guard holds
	log_line '^WARN IP BLOCKED reason=DNSOverTLS blocked=false '
	LOG=$W/log.audit-allow
	run dg --audit -a "$W/allow.txt" -- curl -fsS -m 5 -o /dev/null http://192.0.2.31/pkg.txt
	[ "$status" -eq 0 ]
	log_line '^WARN IP BLOCKED reason=NotAllowed blocked=false blockedAt=connect ip=192.0.2.31 port=80 .*firewallMethod=allowlist'
}

@test "learned-address maps are bounded LRU maps" {
	# bpftool runs outside the guard: a guarded script may not reach maps by id.
	dg_bg --strict -b "$W/names.txt" -- sh -c 'getent ahosts pkgs.example.org >/dev/null
		touch "$0/m.ready"; until [ -e "$0/m.go" ]; do sleep 0.05; done' "$W"
	wait_for "$W/m.ready"
	output=$(bpftool map show name dg_learn4; bpftool map show name dg_learn6
		bpftool -j map lookup name dg_learn4 key 192 0 2 10
		bpftool -j map lookup name dg_learn4 key 192 0 2 30)
	touch "$W/m.go"
	wait_pid "$(cat "$W/dg.pid")"
	mapfile -t lines <<<"$output"
	[ "$(grep -cE 'lru_hash +name dg_learn[46] ' <<<"$output")" -eq 2 ]
	[ "$(grep -cE 'max_entries 65536 ' <<<"$output")" -eq 2 ]
	# github.com's address, resolved by deployguard: blocked for the run
	[[ "${lines[-2]}" == *'"block":1'* ]]
	# pkgs.example.org's, learned from the answer the command got: allowed until it expires
	[[ "${lines[-1]}" == *'"block":0'* && "${lines[-1]}" != *'"expires":0,'* ]]
}
