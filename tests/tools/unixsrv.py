#!/usr/bin/env python3
"""A stand-in daemon on a unix stream socket, and its client.

  unixsrv.py PATH SECONDS            listen on PATH (its pid in PATH.ready once listening), answer
                                     each connection with one line, for SECONDS
  unixsrv.py --connect PATH N        connect N times, print each answer
"""
import os
import socket
import sys
import time

if sys.argv[1] == "--connect":
    for _ in range(int(sys.argv[3])):
        c = socket.socket(socket.AF_UNIX)
        c.connect(sys.argv[2])
        print(c.recv(64).decode().strip(), flush=True)
        c.close()
    sys.exit(0)

path, end = sys.argv[1], time.time() + float(sys.argv[2])
if os.path.exists(path):
    os.unlink(path)
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(16)
s.settimeout(0.2)
with open(path + ".tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename(path + ".tmp", path + ".ready")
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.sendall(b"done by pid %d\n" % os.getpid())
    c.close()
