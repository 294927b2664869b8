#!/bin/bash
# The test world: network namespaces that stand in for the internet and for a deploy host.
#
#   host ns  198.18.0.2/24, 2001:db8:1::2/64 --veth-- inet ns 198.18.0.1, 2001:db8:1::1
#            routes to 192.0.2.0/24 and 2001:db8:2::/48 only (no default route: nothing leaves)
#   inet ns  dnsmasq on 198.18.0.1 and 2001:db8:1::1, an HTTP server on every service address
#            (on loopback: this kernel has no dummy interfaces), and a TCP listener on port 853
#            (DNS over TLS) of the resolver
#
# Source it, then world_up / world_down. Names carry a random suffix so runs never collide.

WORLD_SFX=${WORLD_SFX:-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')}
# The upstream logs each query to $wdir/dnsmasq.log, for reading after a failed test; benches
# set this empty, as a log line costs the upstream more than the answer.
WORLD_LOG_QUERIES=${WORLD_LOG_QUERIES-1}
NS_INET=dg-inet-$WORLD_SFX
NS_HOST=dg-host-$WORLD_SFX
UPSTREAM4=198.18.0.1
UPSTREAM6=2001:db8:1::1

# name address|- [ipv6|- [ttl]]
WORLD_RECORDS=(
	"github.com 192.0.2.10 2001:db8:2::10"
	"api.github.com 192.0.2.11"
	"objects.githubusercontent.com 192.0.2.12"
	"deploy-api.internal.example 192.0.2.20"
	"pkgs.example.org 192.0.2.30 2001:db8:2::30"
	"mirror.example.org 192.0.2.31"
	"v6only.example.org - 2001:db8:2::40"
	"short.example.org 192.0.2.33 - 1"
)

in_inet() { ip netns exec "$NS_INET" "$@"; }
# nsenter, not "ip netns exec": the latter remounts /sys and hides the cgroup tree.
in_host() { nsenter --net="/run/netns/$NS_HOST" "$@"; }

world_up() {
	local wdir=$1 rec name a4 a6 ttl args=()

	ip netns add "$NS_INET" && ip netns add "$NS_HOST" || return 1
	ip link add "dgh$WORLD_SFX" type veth peer name "dgi$WORLD_SFX" || return 1
	ip link set "dgh$WORLD_SFX" netns "$NS_HOST"
	ip link set "dgi$WORLD_SFX" netns "$NS_INET"
	in_host ip link set lo up
	in_host ip addr add 198.18.0.2/24 dev "dgh$WORLD_SFX"
	in_host ip -6 addr add 2001:db8:1::2/64 dev "dgh$WORLD_SFX" nodad
	in_host ip link set "dgh$WORLD_SFX" up
	in_host ip route add 192.0.2.0/24 via 198.18.0.1
	in_host ip -6 route add 2001:db8:2::/48 via 2001:db8:1::1
	in_inet ip link set lo up
	in_inet ip addr add 198.18.0.1/24 dev "dgi$WORLD_SFX"
	in_inet ip -6 addr add 2001:db8:1::1/64 dev "dgi$WORLD_SFX" nodad
	in_inet ip link set "dgi$WORLD_SFX" up
	for rec in "${WORLD_RECORDS[@]}"; do
		read -r name a4 a6 ttl <<<"$rec"
		local r=$name
		[ "$a4" = - ] || { in_inet ip addr add "$a4/32" dev lo; r+=",$a4"; }
		[ -z "$a6" ] || [ "$a6" = - ] || { in_inet ip -6 addr add "$a6/128" dev lo nodad; r+=",$a6"; }
		args+=("--host-record=$r${ttl:+,$ttl}")
	done
	mkdir -p "$wdir/www/acme/app/releases/download/v1" "$wdir/www/repos/acme/deploy-tool/releases"
	echo "app release v1" >"$wdir/www/acme/app/releases/download/v1/app.tar.gz"
	echo '{"tag_name":"v2"}' >"$wdir/www/repos/acme/deploy-tool/releases/latest"
	echo "package index" >"$wdir/www/pkg.txt"
	# A CNAME from a harmless-looking name into a blocked one.
	in_inet dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
		--listen-address=198.18.0.1,2001:db8:1::1 --except-interface=lo \
		--pid-file="$wdir/dnsmasq.pid" --user=root --log-facility="$wdir/dnsmasq.log" \
		${WORLD_LOG_QUERIES:+--log-queries} "${args[@]}" --local-ttl=30 \
		--cname=release.example.org,objects.githubusercontent.com \
		--srv-host=_deploy._tcp.example.org,github.com,443 \
		--dns-rr=svc.example.org,65,00010667697468756203636f6d00 \
		--txt-record=big.example.org,"$(printf 'x%.0s' $(seq 250))","$(printf 'y%.0s' $(seq 250))","$(printf 'z%.0s' $(seq 250))" &
	echo $! >"$wdir/dnsmasq.bg"
	(cd "$wdir/www" && exec ip netns exec "$NS_INET" python3 -m http.server --bind :: 80 \
		>"$wdir/http.log" 2>&1) &
	echo $! >"$wdir/http.bg"
	in_inet python3 -c '
import socket, sys
s = socket.create_server(("198.18.0.1", 853))
while True:
    s.accept()[0].close()' >/dev/null 2>&1 &
	echo $! >"$wdir/dot.bg"
	world_wait
}

# Bounded waits instead of sleeps: DNS answers, the HTTP server and port 853 listen.
world_wait() {
	local i
	for i in $(seq 100); do
		if in_host dig +short +time=1 +tries=1 @198.18.0.1 github.com 2>/dev/null |
			grep -q 192.0.2.10 && in_host curl -fs -m 1 -o /dev/null http://192.0.2.30/pkg.txt &&
			in_host timeout 1 bash -c 'exec 3<>/dev/tcp/198.18.0.1/853' 2>/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	echo "world: dnsmasq, the HTTP server or the port 853 listener did not come up" >&2
	return 1
}

world_down() {
	local wdir=$1 f
	for f in "$wdir/dnsmasq.bg" "$wdir/http.bg" "$wdir/dot.bg"; do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
	done
	ip netns pids "$NS_INET" 2>/dev/null | xargs -r kill 2>/dev/null || true # callers may run under set -e
	ip netns pids "$NS_HOST" 2>/dev/null | xargs -r kill 2>/dev/null || true
	ip netns del "$NS_HOST" 2>/dev/null || true
	ip netns del "$NS_INET" 2>/dev/null || true
	return 0
}
