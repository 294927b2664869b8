#!/usr/bin/env bats
# The option parser, through the binary, as an unprivileged user (make unit runs this without
# root): every bad command line exits 125 with a message naming the option, the value and what
# to give instead, before deployguard touches anything; good ones get past the parser.

bats_require_minimum_version 1.5.0

# deployguard as nobody when we are root, so that nothing here can need root.
dgu() {
	if [ "$(id -u)" -eq 0 ]; then
		setpriv --reuid=65534 --regid=65534 --clear-groups "$BATS_TEST_DIRNAME/../deployguard" "$@"
	else
		"$BATS_TEST_DIRNAME/../deployguard" "$@"
	fi
}

# refused MESSAGE ARGS...: exit 125, MESSAGE on stderr, nothing on stdout.
refused() {
	local want=$1
	shift
	run --separate-stderr dgu "$@"
	[ "$status" -eq 125 ] || { echo "status $status for $*: $stderr" >&2; return 1; }
	[[ "$stderr" == *"$want"* ]] || { echo "for $*: $stderr" >&2; return 1; }
	[ -z "$output" ]
}

@test "options: bad values are refused with the option, the value and what to give" {
	refused "invalid --block-action 'bogus': use nxdomain, refused, servfail, drop or resolve" --block-action bogus -- true
	refused "invalid --connect-action 'reset': use eperm, refused or drop" --connect-action reset -- true
	refused "invalid --outage 'flood': use nxdomain, servfail, timeout, refused or blackhole" --rehearse --outage flood -- true
	refused "invalid --rehearse-timeout '0': give seconds, 1 to 86400" --rehearse --rehearse-timeout 0 -- true
	refused "--from-report, --outage, --rehearse-only, --rehearse-skip and --rehearse-timeout need --rehearse" --outage nxdomain -- true
	refused "--rehearse needs a COMMAND to run" --rehearse
	refused "--rehearse decides how each run fails and what it writes: it takes no --audit" --rehearse --audit -- true
	refused "--rehearse decides how each run fails" --rehearse --connect-action drop -- true
	refused "--graph with --rehearse draws the audit run's graph: it needs the audit run, not --from-report" --rehearse --from-report r.json --graph g.dot -- true
	refused "invalid --ttl-grace '-1': give seconds, 0 to 86400" --ttl-grace -1 -- true
	refused "invalid --ttl-grace '86401'" --ttl-grace 86401 -- true
	refused "invalid --ttl-grace '5x'" --ttl-grace 5x -- true
	refused "invalid --leftovers 'maybe': use leave, wait or kill" --leftovers maybe -- true
	refused "invalid --cpu-max '0': give a percentage of one CPU, 1 to 100000" --cpu-max 0 -- true
	refused "invalid --pids-max 'abc': give a number of tasks, 1 to 4194304" --pids-max abc -- true
	refused "invalid --memory-max '12Q'" --memory-max 12Q -- true
	refused "invalid --log-format 'xml': use text or json" --log-format xml -- true
	refused "invalid upstream '999.1.1.1'" --upstream 999.1.1.1 -- true
	refused "invalid upstream '192.0.2.1#70000'" --upstream '192.0.2.1#70000' -- true
}

@test "options: combinations that cannot work are refused" {
	refused "-a (allowlist) and -b (blocklist) exclude each other: choose one mode" -a x -b y -- true
	refused "no COMMAND given: deployguard [OPTIONS] -- COMMAND [ARG...]"
	refused "--check runs no COMMAND" --check -- true
	refused "--user, --leftovers, --fail-open and --keep-nsswitch need a COMMAND" --cgroup x --user nobody
	refused "--user, --leftovers, --fail-open and --keep-nsswitch need a COMMAND" --cgroup x --fail-open
	refused "--user, --leftovers, --fail-open and --keep-nsswitch need a COMMAND" --cgroup x --keep-nsswitch
	refused "Try 'deployguard --help'." --bogus -- true
	refused "Try 'deployguard --help'." -b
}

@test "options: --help and --version answer on stdout and exit 0; a good command line gets past the parser" {
	run --separate-stderr dgu --help
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ "$output" == "Usage: deployguard [OPTIONS] -- COMMAND [ARG...]"* ]]
	[[ "$output" == *"Examples:"*"deployguard -b blocklist.txt -- ./deploy.sh --env prod"* ]]
	run --separate-stderr dgu -V
	[ "$status" -eq 0 ]
	[[ "$output" =~ ^deployguard\ [0-9.]+\ \(libbcc\ [0-9.]+\)$ ]]
	# Every option at once, all valid: refused only later, for want of privileges.
	d=$(mktemp -d /tmp/dg-options.XXXXXX) # readable by nobody, unlike bats' own directory
	printf 'github.com\n' >"$d/bl.txt"
	chmod a+rx "$d" && chmod a+r "$d/bl.txt"
	run --separate-stderr dgu -b "$d/bl.txt" --strict --block-action drop \
		--ttl-grace 5 --audit --fail-on-block --keep-nsswitch --leftovers kill --cpu-max 150 \
		--memory-max 2G --pids-max 64 --guard-also system.slice \
		--upstream 192.0.2.53#5353 --upstream '2001:db8::53#53' --log-format json -vv -- true
	[ "$status" -eq 125 ]
	[[ "$stderr" == *"privileges"*"deployguard needs CAP_SYS_ADMIN, or CAP_BPF and CAP_NET_ADMIN"* ]]
	[[ "$stderr" != *"invalid"* ]]
}

teardown() {
	[ -z "${d:-}" ] || rm -rf "$d"
}

@test "make deps on a release other than Debian 12 or 13 fails at once, naming the supported ones" {
	# a stand-in /etc/os-release in a mount namespace of its own (with a user namespace when
	# not root; a chrooted process may make none, nor change the propagation of its /, which
	# tests/trixie.sh made private)
	local ns="-m --propagation unchanged"
	printf 'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nVERSION_CODENAME=bullseye\n' \
		>"$BATS_TEST_TMPDIR/os-release"
	[ "$(id -u)" -eq 0 ] || ns=-rm
	run unshare $ns sh -c '{ mount --make-rprivate / 2>/dev/null || true; } &&
		mount --bind "$0" /etc/os-release && exec make -s -C "$1" deps' \
		"$BATS_TEST_TMPDIR/os-release" "$BATS_TEST_DIRNAME/.."
	[ "$status" -ne 0 ]
	[[ "$output" == "deployguard: Debian GNU/Linux 11 (bullseye) is not supported: Debian 12 (bookworm) or 13 (trixie)"* ]]
}
