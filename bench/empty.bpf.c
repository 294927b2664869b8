/*
 * bench/empty.bpf.c: a program for each hook deployguard's IPv4 paths run, each allowing
 * everything. bench/hooks guard attaches them for make bench's floor: what these hooks cost a
 * process before any program does work (issue 5, item 1).
 */
#include <linux/bpf.h>

#include <bpf/bpf_helpers.h>

SEC("cgroup/sock_create")
int floor_sock(struct bpf_sock *sk)
{
	return 1;
}

SEC("cgroup/connect4")
int floor_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/sendmsg4")
int floor_sendmsg4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/recvmsg4")
int floor_recvmsg4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup_skb/egress")
int floor_egress(struct __sk_buff *skb)
{
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
