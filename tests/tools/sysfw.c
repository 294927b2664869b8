/*
 * sysfw CGROUP ADDR: attach to CGROUP an egress firewall that drops IPv4 packets to ADDR, the way
 * systemd's IPAddressDeny= does (hand-assembled cgroup_skb program, bpf_prog_attach with
 * BPF_F_ALLOW_MULTI), print its program id and exit. The attachment outlives this process: detach
 * it with bpftool, or remove the cgroup. Lets the tests show that deployguard's programs and a
 * service manager's run side by side.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <linux/bpf.h>

#define INSN(c, d, s, o, i)                                                                        \
	((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})

int main(int argc, char **argv)
{
	struct in_addr a;
	uint32_t daddr;
	struct bpf_prog_info info = {0};
	__u32 len = sizeof(info);
	int cg, fd;

	if (argc != 3 || inet_pton(AF_INET, argv[2], &a) != 1) {
		fprintf(stderr, "usage: sysfw CGROUP IPV4-ADDRESS\n");
		return 2;
	}
	memcpy(&daddr, &a, 4); /* as a 32-bit load from the packet sees it */
	const struct bpf_insn prog[] = {
	    INSN(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0), /* r6 = skb */
	    INSN(BPF_LDX | BPF_MEM | BPF_W, 2, 6, offsetof(struct __sk_buff, protocol), 0),
	    INSN(BPF_JMP32 | BPF_JNE | BPF_K, 2, 0, 10, htons(0x0800)), /* not IPv4: pass */
	    INSN(BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, 16),		/* offset of daddr */
	    INSN(BPF_ALU64 | BPF_MOV | BPF_X, 3, 10, 0, 0),
	    INSN(BPF_ALU64 | BPF_ADD | BPF_K, 3, 0, 0, -4),
	    INSN(BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, 4),
	    INSN(BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0),
	    INSN(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_skb_load_bytes),
	    INSN(BPF_JMP32 | BPF_JNE | BPF_K, 0, 0, 3, 0),
	    INSN(BPF_LDX | BPF_MEM | BPF_W, 1, 10, -4, 0),
	    INSN(BPF_JMP32 | BPF_JNE | BPF_K, 1, 0, 1, (int)daddr),
	    INSN(BPF_JMP | BPF_JA, 0, 0, 2, 0), /* to the drop */
	    INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1),
	    INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	    INSN(BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0),
	    INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_CGROUP_INET_EGRESS);

	fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_SKB, "sd_fw_egress", "GPL", prog,
			   sizeof(prog) / sizeof(prog[0]), &opts);
	cg = open(argv[1], O_RDONLY | O_DIRECTORY);
	if (fd < 0 || cg < 0 ||
	    bpf_prog_attach(fd, cg, BPF_CGROUP_INET_EGRESS, BPF_F_ALLOW_MULTI) ||
	    bpf_obj_get_info_by_fd(fd, &info, &len)) {
		perror("sysfw");
		return 1;
	}
	printf("%u\n", info.id);
	return 0;
}
