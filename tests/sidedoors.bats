#!/usr/bin/env bats
# Side doors below IP, tried as a root deploy script would: a packet socket made through
# io_uring, every socket family, program loads that move packets. Each attempt is shown to work
# unguarded first; under the guard it is refused, logged, and the blocked address stays
# unreachable. And what must still work: Node.js, fio, BPF loads that move no packets.

load common

SD=$BATS_TEST_DIRNAME/tools/sidedoor

setup_file() {
	world_setup_file
	echo github.com >"$W/names.txt"
	# the inet namespace's side of the veth: where a frame for the resolver goes
	MAC=$(ip -n "$NS_INET" link show "dgi$WORLD_SFX" | awk '/ether/ {print $2}')
	export MAC
}

# The last thing each guarded run does: github.com's address is still refused.
still_blocked='curl -sS -m 3 -o /dev/null http://192.0.2.10/; echo "curl=$?"'

# The number of WARN TAMPER lines with reason $1 whose tried= starts with $2.
tampered() { grep -cE "^WARN TAMPER reason=$1 blocked=true .*tried=\"$2" "$LOG" || true; }

@test "an AF_PACKET socket made through io_uring, with a raw DNS query for a blocked name: unguarded it answers; guarded io_uring fails with ENOSYS and is logged" {
	local q="$SD uring-dns dgh$WORLD_SFX $MAC 198.18.0.2 198.18.0.1 github.com"
	run in_host $q
	if [ "$output" = "io_uring socket: EINVAL" ]; then
		echo "# this kernel has no IORING_OP_SOCKET (5.19): io_uring_setup is still refused" >&3
	else
		[ "$status" -eq 0 ]
		[ "$output" = "answer 192.0.2.10" ]
	fi
	run dg -b "$W/names.txt" -- sh -c "$q; echo \"rc=\$?\"; $still_blocked"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "io_uring socket: ENOSYS" ]
	[ "${lines[1]}" = "rc=2" ]
	[[ "$output" == *"curl=7" ]]
	log_line "^WARN TAMPER reason=IoUring blocked=true pid=[0-9]+ cmd=\"$SD uring-dns .* tried=\"io_uring_setup\""
	[ "$(grep -c 'reason=IoUring' "$LOG")" -eq 1 ]
}

@test "every socket family an unguarded root process creates is refused inside but unix, inet, inet6 and netlink, through socket() and socketpair(), logged, in --audit too" {
	local unguarded refused f
	unguarded=$(in_host "$SD" families | awk '$2 == "created" {print $1}' | tr '\n' ' ')
	echo "# created unguarded: $unguarded" >&3
	[[ " $unguarded " == *" 17 "* ]] # AF_PACKET
	[[ " $unguarded " == *" 40 "* ]] # AF_VSOCK
	[[ " $unguarded " == *" 44 "* ]] # AF_XDP
	refused=$(for f in $unguarded; do case $f in 1 | 2 | 10 | 16) ;; *) echo "$f" ;; esac; done)
	run dg -b "$W/names.txt" -- sh -c "$SD families $unguarded; $SD socketpair 17; $still_blocked"
	[ "$status" -eq 0 ]
	for f in $unguarded; do
		case $f in
		1 | 2 | 10 | 16) [[ "$output" == *"$f created"* ]] ;;
		*) [[ "$output" == *"$f EPERM"* ]] ;;
		esac
	done
	[[ "$output" == *"EPERM"*"curl=7" ]]
	[ "$(grep -c '^WARN TAMPER reason=SocketFamily blocked=true ' "$LOG")" -eq "$(($(echo "$refused" | wc -w) + 1))" ]
	[ "$(tampered SocketFamily 'socket\(AF_PACKET, ')" -eq 1 ]
	[ "$(tampered SocketFamily 'socket\(AF_VSOCK, ')" -eq 1 ]
	[ "$(tampered SocketFamily 'socket\(AF_XDP, ')" -eq 1 ]
	[ "$(tampered SocketFamily 'socketpair\(AF_PACKET, ')" -eq 1 ]
	# every family, not only those this kernel has: none but the four is created
	run dg -b "$W/names.txt" -- "$SD" families
	[ "$(echo "$output" | awk '$2 == "created" {print $1}' | tr '\n' ' ')" = "1 2 10 16 " ]
	LOG=$W/log.$BATS_TEST_NUMBER.audit
	run dg --audit -b "$W/names.txt" -- sh -c "$SD families 17 44; $still_blocked"
	[ "$status" -eq 0 ]
	echo "$output"
	[[ "$output" == *"17 EPERM"*"44 EPERM"*"curl=0"* ]] # audit lets the policy's refusals go
	[ "$(tampered SocketFamily 'socket\(AF_PACKET, ')" -eq 1 ]
	[ "$(tampered SocketFamily 'socket\(AF_XDP, ')" -eq 1 ]
}

@test "program loads that move packets (XDP, tc, lwt, sk_skb, sk_msg, syscall) are refused and logged; an XDP attach fails at its load" {
	local t types=() loaded
	for t in xdp sched_cls sched_act lwt_in lwt_out lwt_xmit lwt_seg6local sk_skb sk_msg syscall; do
		loaded=$("$SD" load "$t") || true
		if [ "$loaded" = loaded ]; then
			types+=("$t")
		else
			echo "# this kernel loads no $t program ($loaded): not tried" >&3
		fi
	done
	[ "${#types[@]}" -ge 9 ]
	run in_host "$SD" xdp "dgh$WORLD_SFX"
	[ "$output" = attached ]
	run dg -b "$W/names.txt" -- sh -c "for t in ${types[*]}; do $SD load \$t; done; $SD xdp dgh$WORLD_SFX; $still_blocked"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | grep -c '^EPERM$')" -eq "${#types[@]}" ]
	[[ "$output" == *"load: EPERM"*"curl=7" ]]
	for t in "${types[@]}"; do
		[ "$(tampered PacketProgram "bpf\\(BPF_PROG_LOAD, $t\\)")" -ge 1 ]
	done
	[ "$(grep -c 'reason=PacketProgram' "$LOG")" -eq $((${#types[@]} + 1)) ]
	! ip -n "$NS_HOST" link show "dgh$WORLD_SFX" | grep -q xdp
}

@test "other program loads are made by deployguard from its copy: a map the program uses, the verifier's log, a device program" {
	local unguarded
	unguarded=$("$SD" map; "$SD" log; "$SD" load cgroup_device; "$SD" load socket_filter)
	[ "$(echo "$unguarded" | head -1)" = "loaded maps=1 attached" ]
	run dg -b "$W/names.txt" -- sh -c "$SD map; $SD log; $SD load cgroup_device; $SD load socket_filter"
	[ "$status" -eq 0 ]
	[ "$output" = "$unguarded" ]
	[ "$(grep -c 'WARN TAMPER' "$LOG")" -eq 0 ]
}

@test "Node.js (io_uring asked for) and fio work under the guard; fio's io_uring engine does not: it fails with ENOSYS" {
	local js fio
	js='const fs = require("fs"), dns = require("dns"), http = require("http");
fs.promises.readFile(process.argv[1], "utf8").then((text) => {
  dns.lookup("pkgs.example.org", { family: 4 }, (err, addr) => {
    if (err) throw err;
    http.get("http://pkgs.example.org/pkg.txt", (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => console.log(text.trim(), addr, body.trim()));
    });
  });
});'
	echo "node read this" >"$W/node.txt"
	fio="fio --name=t --filename=$W/fio.dat --size=1M --rw=randread --bs=4k --minimal"
	printf 'nameserver %s\n' "$UPSTREAM4" >"$W/resolv.conf"
	run in_host unshare -m sh -c 'mount --bind "$0/resolv.conf" /etc/resolv.conf &&
		exec env UV_USE_IO_URING=1 node -e "$1" "$0/node.txt"' "$W" "$js"
	[ "$output" = "node read this 192.0.2.30 package index" ]
	run in_host $fio --ioengine=io_uring
	[ "$status" -eq 0 ]
	run dg -b "$W/names.txt" -- sh -c "UV_USE_IO_URING=1 node -e '$js' $W/node.txt && $fio --ioengine=psync >/dev/null && echo psync=ok; $fio --ioengine=io_uring; echo io_uring=\$?"
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "node read this 192.0.2.30 package index" ]
	[ "${lines[1]}" = "psync=ok" ]
	[[ "$output" == *"Function not implemented"*"io_uring=1" ]]
	log_line '^WARN TAMPER reason=IoUring blocked=true .*cmd="fio '
}

@test "--check lists the side doors the filter refuses" {
	run "$DG" --check
	[[ "$output" == *"side doors "*"refused  socket families other than unix, inet, inet6 and netlink (EPERM); io_uring (ENOSYS"*"xdp, sched_cls, sched_act, lwt_in, lwt_out, lwt_xmit, lwt_seg6local, sk_skb, sk_msg, syscall"* ]]
}

@test "a load whose type another thread flips from socket_filter to XDP: unguarded some load as XDP; guarded none does, each flip caught is refused" {
	run "$SD" race 2000
	[ "$status" -eq 0 ]
	[[ "$output" != "xdp=0 "* ]]
	run dg -b "$W/names.txt" -- sh -c "$SD race 2000; $still_blocked"
	echo "$output" | grep -E '^xdp=0 socket_filter=[0-9]+ refused=[0-9]+$' # stderr may come first
	[ "$(grep -c 'reason=PacketProgram' "$LOG")" -ge 1 ]
	[[ "$output" == *"curl=7"* ]]
}
