#!/usr/bin/env python3
"""devattach.py CGROUP [ATTACH_TYPE]: what runc and crun do on cgroup v2 to limit a container's
devices: load a BPF_PROG_TYPE_CGROUP_DEVICE program (allow everything) and attach it to CGROUP
with BPF_F_ALLOW_MULTI, from a thread other than the main one (as Go's runtime does). Prints
"attach=ok" or "attach=ERRNO_NAME"; ATTACH_TYPE defaults to BPF_CGROUP_DEVICE (6)."""
import ctypes
import errno
import os
import struct
import sys
import threading

libc = ctypes.CDLL(None, use_errno=True)
SYS_BPF = {"x86_64": 321, "aarch64": 280}[os.uname().machine]


def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, len(attr))
    r = libc.syscall(SYS_BPF, cmd, buf, len(attr))
    return r, ctypes.get_errno()


def main():
    insns = struct.pack("<BBhi", 0xb7, 0, 0, 1) + struct.pack("<BBhi", 0x95, 0, 0, 0)  # r0 = 1; exit
    code, lic = ctypes.create_string_buffer(insns, len(insns)), ctypes.create_string_buffer(b"GPL")
    prog, e = bpf(5, struct.pack("<IIQQ", 15, 2, ctypes.addressof(code), ctypes.addressof(lic)) + bytes(100))
    if prog < 0:
        print("load=" + errno.errorcode[e])
        return
    cg = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
    kind = int(sys.argv[2]) if len(sys.argv) > 2 else 6
    out = []
    t = threading.Thread(target=lambda: out.append(bpf(8, struct.pack("<IIIII", cg, prog, kind, 2, 0))))
    t.start()
    t.join()
    r, e = out[0]
    print("attach=" + ("ok" if r == 0 else errno.errorcode[e]))


main()
