#!/usr/bin/env python3
"""A stand-in for nscd: answers glibc's getaddrinfo (the GETAI request) on nscd's socket from a
fixed table, as a daemon outside the guarded cgroup would, without a DNS packet. Other requests
get the connection closed, and glibc falls back to its own lookups.

  nscd.py SOCKET SECONDS NAME=ADDR...     (its pid in SOCKET.ready once listening)
"""
import os
import socket
import struct
import sys
import time

GETAI = 14
path, end = sys.argv[1], time.time() + float(sys.argv[2])
table = dict(a.split("=", 1) for a in sys.argv[3:])
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(16)
s.settimeout(0.2)
with open(path + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(path + ".tmp", path + ".ready")


def answer(c):
    head = c.recv(12)
    if len(head) < 12:
        return
    version, kind, keylen = struct.unpack("=iii", head)
    key = c.recv(keylen).rstrip(b"\0").decode(errors="replace")
    if kind != GETAI:
        return  # glibc falls back
    addr = table.get(key)
    if addr is None:
        c.sendall(struct.pack("=iiiiii", version, 0, 0, 0, 0, 0))
        return
    packed, canon = socket.inet_aton(addr), key.encode() + b"\0"
    print(f"nscd: {key} -> {addr}", flush=True)
    c.sendall(struct.pack("=iiiiii", version, 1, 1, len(packed), len(canon), 0) + packed +
              bytes([socket.AF_INET]) + canon)


while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    with c:
        answer(c)
