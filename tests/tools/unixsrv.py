#!/usr/bin/env python3
"""A stand-in daemon on a unix stream socket, and its client.

  unixsrv.py PATH SECONDS [SERVER]   listen on PATH (its pid in PATH.ready once listening), answer
                                     each connection with one line, for SECONDS; with SERVER,
                                     the line a client sends is a name to look up there (an
                                     A query to SERVER's port 53), and the answer its rcode
  unixsrv.py --connect PATH N [NAME] connect N times (sending NAME), print each answer
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dnsclient  # noqa: E402

if sys.argv[1] == "--connect":
    for _ in range(int(sys.argv[3])):
        c = socket.socket(socket.AF_UNIX)
        c.connect(sys.argv[2])
        if len(sys.argv) > 4:
            c.sendall(sys.argv[4].encode() + b"\n")
        print(c.recv(128).decode().strip(), flush=True)
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
    if len(sys.argv) > 3:  # look the name up, as a daemon would on the client's behalf
        name = c.recv(256).decode().strip()
        try:
            _, rcode, n = dnsclient.ask(sys.argv[3], name, False, 7, 3)
            c.sendall(b"%s rcode %d answers %d\n" % (name.encode(), rcode, n))
        except OSError as e:
            c.sendall(b"%s failed %s\n" % (name.encode(), str(e).encode()))
    else:
        c.sendall(b"done by pid %d\n" % os.getpid())
    c.close()
