# podman for the tests and the bench, its state all under a directory of theirs. Loaded by
# containers.bats, sourced by bench/containers.sh.

# podman's configuration for the tests, all under $W: the cgroupfs manager, no default ulimits
# (this host's hard RLIMIT_NOFILE is lower than podman's default), vfs storage; in the VM, whose
# root is its initramfs, no pivot_root(2).
podman_setup() { # uses $W and $T; exports CONTAINERS_CONF and CONTAINERS_STORAGE_CONF
	mkdir -p "$W/podman"
	cat >"$W/podman/containers.conf" <<-EOF2
		[containers]
		default_ulimits = []
		[engine]
		no_pivot_root = $([ -n "${DG_TEST_VM:-}" ] && echo true || echo false)
		cgroup_manager = "cgroupfs"
		runtime = "runc"
		events_logger = "file"
		tmp_dir = "$W/podman/tmp"
		[network]
		network_config_dir = "$W/podman/net"
	EOF2
	cat >"$W/podman/storage.conf" <<-EOF2
		[storage]
		driver = "vfs"
		runroot = "$W/podman/run"
		graphroot = "$W/podman/storage"
	EOF2
	export CONTAINERS_CONF=$W/podman/containers.conf CONTAINERS_STORAGE_CONF=$W/podman/storage.conf
	"$T/tools/mkimage.sh" "$W/tools.tar"
	podman import -q "$W/tools.tar" localhost/tools >/dev/null
}

