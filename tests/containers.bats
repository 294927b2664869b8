#!/usr/bin/env bats
# Integration tests of containers under the guard (issue 31): podman with runc (and crun where
# cgroups are pure v2: the VM), a dockerd the tests start, and a local registry; the deploy's
# containers adopted or made in the guarded cgroup, judged and attributed, pulls judged, and
# nothing left behind. Same world as integration.bats; podman and dockerd keep their state under
# $W, with an image imported from a tarball of busybox and curl (no registry outside is
# reachable). Needs root.

bats_require_minimum_version 1.5.0
load common
load podman

setup_file() {
	world_setup_file || return 1
	printf 'github.com\n' >"$W/github.txt"
	podman_setup
	docker_setup
}

teardown_file() {
	docker_down
	source "$T/world.sh"
	world_down "$W"
	rm -rf "$W"
}

# A dockerd of the test's own in the world's host namespace (iptables off, no default bridge,
# the cgroupfs driver), resolving through the world's dnsmasq (its own /etc/resolv.conf, in a
# mount namespace of its own), on a socket under $W that DOCKER_HOST names; and a registry
# (Debian's docker-registry) in the world's "internet" on port 5000 of every service address,
# holding the tools image as github.com:5000/tools:1 (blocked) and pkgs.example.org:5000/tools:1.
docker_setup() {
	local d=$W/docker i
	mkdir -p "$d" "$W/registry"
	printf 'nameserver %s\n' "$UPSTREAM4" >"$d/resolv.conf"
	printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: :5000\nlog:\n  level: error\n' \
		"$W/registry" >"$W/registry.yml"
	in_inet docker-registry serve "$W/registry.yml" >"$W/registry.log" 2>&1 &
	echo $! >"$W/registry.bg"
	export DOCKER_HOST=unix://$d/docker.sock
	# the VM's root is its initramfs, where pivot_root(2) cannot work: runc moves the root instead
	[ -z "$DG_TEST_VM" ] || export DOCKER_RAMDISK=true
	in_host unshare -m sh -c 'mount --bind "$0/resolv.conf" /etc/resolv.conf &&
		exec dockerd --iptables=false --bridge=none --exec-opt native.cgroupdriver=cgroupfs \
		--default-ulimit nofile=20000:20000 --storage-driver vfs --data-root "$0/data" \
		--exec-root "$0/exec" -H "unix://$0/docker.sock" --pidfile "$0/dockerd.pid" \
		--containerd-namespace "dg-$1" --containerd-plugins-namespace "dg-$1-p" \
		--insecure-registry github.com:5000 --insecure-registry pkgs.example.org:5000' \
		"$d" "$WORLD_SFX" >"$d/dockerd.log" 2>&1 &
	for i in $(seq 300); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
	docker version >/dev/null || { tail "$d/dockerd.log" >&3; return 1; }
	docker import "$W/tools.tar" tools >/dev/null
	for r in github.com pkgs.example.org; do
		docker tag tools "$r:5000/tools:1"
		for i in $(seq 100); do docker push -q "$r:5000/tools:1" >/dev/null 2>&1 && break; sleep 0.1; done
		docker rmi "$r:5000/tools:1" >/dev/null
	done
	docker pull -q "pkgs.example.org:5000/tools:1" >/dev/null # the registry serves it
	docker rmi "pkgs.example.org:5000/tools:1" >/dev/null
}

docker_down() {
	local d=$W/docker pid
	if [ -s "$d/dockerd.pid" ]; then
		pid=$(cat "$d/dockerd.pid")
		docker rm -f $(docker ps -aq) >/dev/null 2>&1 || true
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 200); do [ -e "/proc/$pid" ] || break; sleep 0.1; done
	fi
	[ ! -f "$W/registry.bg" ] || kill "$(cat "$W/registry.bg")" 2>/dev/null || true
	umount "$d/exec" "$d/data" 2>/dev/null || true
}

# The OCI runtimes podman can use here: crun needs cgroup v2 alone (the VM); runc runs anywhere.
runtimes() {
	echo runc
	[ "$(stat -f -c %T /sys/fs/cgroup)" != cgroup2fs ] || echo crun
}

# Nothing of the run's containers is left: no container, no conmon, no container cgroup.
nothing_left() {
	[ -z "$(podman ps -aq)" ]
	! pgrep -f "conmon .*$W/podman" || false
	[ -z "$(find "$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)" -name 'libpod-*' -type d)" ]
}

@test "podman run --network host, with each runtime: unguarded it reaches everything; guarded its lookups and connects are judged and attributed to the container, its lineage goes back to podman run, its cgroup is adopted and released, nothing is left behind" {
	local rt m
	m=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
	for rt in $(runtimes); do
		run in_host podman --runtime "$rt" run --rm --network host --dns "$UPSTREAM4" \
			localhost/tools sh -c 'nslookup github.com >/dev/null; echo dns=$?
				curl -sS -m 3 -o /dev/null http://github.com/; echo curl=$?'
		echo "$output"
		[[ "$output" == *"dns=0"*"curl=0"* ]]
		LOG=$W/log.$rt
		run dg -b "$W/github.txt" --report "$W/p-$rt.json" -- podman --runtime "$rt" run --rm \
			--name "dgt-$rt" --network host --dns "$UPSTREAM4" localhost/tools sh -c '
				nslookup github.com >/dev/null; echo dns=$?
				curl -sS -m 3 -o /dev/null http://github.com/ 2>/dev/null; echo curl=$?
				curl -sS -m 3 http://192.0.2.10/ 2>/dev/null; echo ip=$?
				wget -q -O - http://192.0.2.30/pkg.txt'
		echo "$output"
		cat "$LOG"
		[ "$status" -eq 0 ]
		[[ "$output" == *"dns=1"*"curl=6"*"ip=7"*"package index"* ]]
		[[ "$output" != *"left behind"* ]]
		[[ "$(blocked_line github.com.)" == *" cmd=\"nslookup github.com \" container="[0-9a-f]*" containerName=\"dgt-$rt\" image=\"localhost/tools:latest\" "*"class=direct" ]]
		log_line "^WARN IP BLOCKED .*ip=192.0.2.10 port=80 pid=[0-9]+ cmd=\"curl -sS -m 3 http://192.0.2.10/ \" container=[0-9a-f]{12} containerName=\"dgt-$rt\" "
		log_line "^INFO CGROUP ADOPTED path=\"/[^\"]*libpod-[0-9a-f]{64}\" pid=[0-9]+ cmd=\"[^\"]*$rt [^\"]*create "
		run python3 - "$W/p-$rt.json" "$rt" <<-'PY'
			import json, sys
			r, rt = json.load(open(sys.argv[1])), sys.argv[2]
			d = {x["name"]: x for x in r["destinations"] if x["kind"] == "dns"}
			p = d["github.com"]["processes"][0]
			c = p["container"]
			assert c["name"] == "dgt-" + rt and c["image"] == "localhost/tools:latest", c
			assert c["engine"] == "podman" and len(c["id"]) == 64, c
			assert p["ancestry"].startswith("podman \u2192 conmon") and p["ancestry"].endswith("sh \u2192 nslookup"), p
			assert d["github.com"]["class"] == "direct"
			print("ok")
		PY
		echo "$output"
		[ "$output" = ok ]
		python3 "$T/tools/report_check.py" "$W/p-$rt.json" "$T/../man/deployguard.8"
		nothing_left
	done
}

@test "podman run on its bridge network (a network namespace of its own): the container's resolver lands on the proxy and gets its answers, blocked and allowed alike; --audit and --fail-on-block see the container's lookups" {
	local rt
	for rt in $(runtimes); do
		run in_host podman --runtime "$rt" run --rm --dns "$UPSTREAM4" localhost/tools sh -c '
			nslookup github.com >/dev/null; echo dns=$?; wget -q -O - http://192.0.2.10/ >/dev/null; echo ip=$?'
		echo "$output"
		[[ "$output" == *"dns=0"*"ip=0"* ]]
		LOG=$W/log.bridge-$rt
		run dg -b "$W/github.txt" -- podman --runtime "$rt" run --rm --name "dgb-$rt" \
			--dns "$UPSTREAM4" localhost/tools sh -c '
				nslookup github.com >/dev/null; echo dns=$?
				nslookup pkgs.example.org | grep -c 192.0.2.30
				wget -q -O - http://192.0.2.30/pkg.txt
				wget -q -O - http://192.0.2.10/ 2>/dev/null; echo ip=$?'
		echo "$output"
		[ "$status" -eq 0 ]
		[[ "$output" == *"dns=1"*$'\n1\n'*"package index"*"ip=1"* ]]
		[[ "$(blocked_line github.com.)" == *"containerName=\"dgb-$rt\""* ]]
		[[ "$output" != *"left behind"* ]]
		LOG=$W/log.audit-$rt
		run dg --audit --fail-on-block -b "$W/github.txt" -- podman --runtime "$rt" run --rm \
			--dns "$UPSTREAM4" localhost/tools sh -c 'nslookup github.com >/dev/null; echo dns=$?'
		[ "$status" -eq 123 ]
		[[ "$output" == *"dns=0"*"--fail-on-block: 1 destination would have been blocked"* ]]
		log_line "^WARN DNS BLOCKED reason=FromDNSRequest blocked=false .*domain=github.com. .*container=[0-9a-f]{12} "
		nothing_left
	done
}

# The cgroups docker's containers had: none left below the guarded ones.
no_docker_left() {
	[ -z "$(docker ps -aq)" ]
	[ -z "$(find "$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)" -maxdepth 1 -name 'deployguard-*')" ]
	! pgrep -f "containerd-shim.* -namespace dg-$WORLD_SFX" || false
}

@test "docker run through DOCKER_HOST's socket: unguarded the container reaches everything; guarded it runs in the guarded cgroup, its lookups and connects judged and attributed to the container and to docker run; nothing is left" {
	run in_host docker run --rm --network host --dns "$UPSTREAM4" tools sh -c '
		nslookup github.com >/dev/null; echo dns=$?; wget -q -O /dev/null http://192.0.2.10/; echo ip=$?'
	echo "$output"
	[[ "$output" == *"dns=0"*"ip=0"* ]]
	run dg -b "$W/github.txt" --report "$W/d.json" -- sh -c 'docker run --rm --name dgd \
		--network host --dns 198.18.0.1 tools sh -c "
			nslookup github.com >/dev/null; echo dns=\$?
			wget -q -O - http://192.0.2.30/pkg.txt
			wget -q -O /dev/null http://192.0.2.10/ 2>/dev/null; echo ip=\$?"'
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"dns=1"*"package index"*"ip=1"* ]]
	[[ "$(blocked_line github.com.)" == *"container="[0-9a-f]*" containerName=\"dgd\" image=\"tools\""*"class=direct" ]]
	log_line "^WARN IP BLOCKED .*ip=192.0.2.10 .*containerName=\"dgd\" "
	! grep -q DELEGATED "$LOG" || false # the socket is deployguard's: not work handed away
	run python3 - "$W/d.json" <<-'PY'
		import json, sys
		r = json.load(open(sys.argv[1]))
		d = {x["name"]: x for x in r["destinations"] if x["kind"] == "dns"}
		p = d["github.com"]["processes"][0]
		assert p["container"]["engine"] == "docker" and p["container"]["name"] == "dgd", p
		assert p["ancestry"].startswith("sh \u2192 docker"), p
		print("ok")
	PY
	echo "$output"
	[ "$output" = ok ]
	no_docker_left
	# the default socket, /run/docker.sock (in a mount namespace of the test's own, over a /run
	# of its own), without DOCKER_HOST
	LOG=$W/log.default
	run in_host unshare -m sh -c 'mount -t tmpfs none /run && touch /run/docker.sock &&
		mount --bind "${DOCKER_HOST#unix://}" /run/docker.sock && unset DOCKER_HOST &&
		exec "$0" --upstream "$1" -o "$2" -b "$3" -- docker run --rm --network host \
			--dns "$1" tools sh -c "nslookup github.com >/dev/null; echo dns=\$?"' \
		"$DG" "$UPSTREAM4" "$LOG" "$W/github.txt"
	echo "$output"
	[[ "$output" == *"dns=1"* ]]
	[[ "$(blocked_line github.com.)" == *" container="[0-9a-f]*" "* ]]
	no_docker_left
}

@test "docker pull from a blocked registry is refused before dockerd asks it, logged and counted; from an allowed one it goes through; a run of a missing image pulls through the same judge; --audit lets it through and says so; another client of the same dockerd is untouched" {
	run dg -b "$W/github.txt" -- sh -c '
		docker pull -q github.com:5000/tools:1; echo blocked=$?
		docker pull -q pkgs.example.org:5000/tools:1 >/dev/null; echo allowed=$?
		docker run --rm --network host github.com:5000/tools:1 true; echo run=$?'
	echo "$output"
	[[ "$output" == *"deployguard: pull of github.com:5000/tools refused: the policy blocks github.com, its registry"*"blocked=1"*"allowed=0"*"run=125"* ]]
	[ "$(grep -c '^WARN REGISTRY BLOCKED reason=FromImagePull blocked=true blockedAt=docker domain=github.com. port=5000 ' "$LOG")" -eq 2 ]
	log_line "^WARN REGISTRY BLOCKED .* cmd=\"docker pull -q github.com:5000/tools:1 \" image=\"github.com:5000/tools\" .*rule=$W/github.txt:1 class=direct"
	grep -qE '^ +2 blocked +direct +registry +github.com:5000 ' "$LOG"
	grep -qE '^ +1 allowed +direct +registry +pkgs.example.org:5000 ' "$LOG"
	! grep -q 'BLOCKED .*pkgs.example.org' "$LOG" || false
	! docker image inspect github.com:5000/tools:1 >/dev/null 2>&1 || false # never pulled
	docker image inspect pkgs.example.org:5000/tools:1 >/dev/null
	docker rmi pkgs.example.org:5000/tools:1 >/dev/null
	LOG=$W/log.audit
	run dg --audit -b "$W/github.txt" -- docker pull -q github.com:5000/tools:1
	[ "$status" -eq 0 ]
	log_line "^WARN REGISTRY BLOCKED reason=FromImagePull blocked=false "
	docker rmi github.com:5000/tools:1 >/dev/null
	# the same dockerd, for a client outside the run, while a run guards: not judged
	LOG=$W/log.other
	dg_bg -b "$W/github.txt" -- sh -c 'touch "$0/other.go"; until [ -e "$0/other.done" ]; do sleep 0.05; done' "$W"
	wait_for "$W/other.go"
	in_host docker pull -q github.com:5000/tools:1
	touch "$W/other.done"
	wait_pid "$(cat "$W/dg.pid")"
	! grep -q REGISTRY "$LOG" || false
	docker rmi github.com:5000/tools:1 >/dev/null
	no_docker_left
}

@test "docker build RUN steps and docker-compose up run guarded; compose's container is named in the log" {
	mkdir -p "$W/ctx"
	printf 'FROM tools\nRUN nslookup github.com >/dev/null; echo build-dns=$?\n' >"$W/ctx/Dockerfile"
	printf 'version: "2"\nservices:\n  app:\n    image: tools\n    network_mode: host\n    command: sh -c "nslookup github.com >/dev/null; echo compose-dns=$$?"\n' \
		>"$W/ctx/docker-compose.yml"
	run dg -b "$W/github.txt" -- sh -c 'cd "$0" && DOCKER_BUILDKIT=0 docker build --network host -t dgbuilt . 2>&1
		docker-compose -p "dg$1" up --no-color 2>&1; docker-compose -p "dg$1" down 2>&1' "$W/ctx" "$WORLD_SFX"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"build-dns=1"*"compose-dns=1"* ]]
	[ "$(grep -c '^WARN DNS BLOCKED .*domain=github.com. ' "$LOG")" -ge 4 ]
	log_line "^WARN DNS BLOCKED .*containerName=\"dg${WORLD_SFX}[-_]app[-_]1\" " # compose v1 and v2 spell it so
	docker rmi dgbuilt >/dev/null
	no_docker_left
}
