#!/usr/bin/env python3
"""What a root script can try on deployguard (pid argv[1]) with raw system calls: reach it
(pidfd_open, ptrace, process_vm_writev, /proc/PID/mem and /proc/PID/fd), load a module or a kernel,
and the two calls the filter answers ENOSYS (clone3, pidfd_send_signal). Prints NAME=ok or
NAME=ERRNO for each, x86-64 numbers."""
import ctypes
import errno
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
dg = int(sys.argv[1])


def call(name, nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    e = ctypes.get_errno()
    print(f"{name}={'ok' if r >= 0 else errno.errorcode.get(e, e)}", flush=True)


def path(name, p, mode):
    try:
        os.close(os.open(p, mode))
        print(f"{name}=ok", flush=True)
    except OSError as e:
        print(f"{name}={errno.errorcode.get(e.errno, e.errno)}", flush=True)


# The numbers of each architecture the filter is built for (asm/unistd.h): the calls test its
# table, so they are the kernel's numbers, not deployguard's.
NR = {
    "x86_64": {"ptrace": 101, "process_vm_writev": 311, "finit_module": 313, "kexec_load": 246},
    "aarch64": {"ptrace": 117, "process_vm_writev": 271, "finit_module": 273, "kexec_load": 104},
}[os.uname().machine]
call("pidfd_open", 434, dg, 0)  # 424 and up are the same everywhere
call("ptrace", NR["ptrace"], 0x4206, dg, 0, 0)  # PTRACE_SEIZE
call("process_vm_writev", NR["process_vm_writev"], dg, 0, 0, 0, 0, 0)
call("finit_module", NR["finit_module"], -1, 0, 0)  # EBADF from the kernel; EPERM from the filter
call("kexec_load", NR["kexec_load"], 0, 0, 0, 0)
call("pidfd_send_signal", 424, -1, 0, 0, 0)
call("clone3", 435, 0, 0)
path("mem", f"/proc/{dg}/mem", os.O_RDWR)
path("fd", f"/proc/{dg}/fd/0", os.O_RDONLY)
