#!/usr/bin/python3
"""A slow upstream: a DNS forwarder that holds every query DELAY_MS before passing it on.

usage: slowdns.py LISTEN_ADDR PORT UPSTREAM DELAY_MS

Listens on UDP and TCP; each query is held, then forwarded over UDP to UPSTREAM port 53, and the
answer returned. It stands in for a far-away resolver, so that queries stay in flight in the proxy.
"""
import socket
import struct
import sys
import threading
import time

addr, port, upstream, delay = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]) / 1000


def resolve(query):
    time.sleep(delay)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(3)
        u.sendto(query, (upstream, 53))
        return u.recv(65535)


def udp_one(s, query, peer):
    try:
        s.sendto(resolve(query), peer)
    except OSError:
        pass


def tcp_one(c):
    with c:
        try:
            n = struct.unpack(">H", c.recv(2, socket.MSG_WAITALL))[0]
            ans = resolve(c.recv(n, socket.MSG_WAITALL))
            c.sendall(struct.pack(">H", len(ans)) + ans)
        except (OSError, struct.error):
            pass


def tcp_server():
    t = socket.create_server((addr, port))
    while True:
        threading.Thread(target=tcp_one, args=(t.accept()[0],), daemon=True).start()


threading.Thread(target=tcp_server, daemon=True).start()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, port))
while True:
    q, peer = s.recvfrom(65535)
    threading.Thread(target=udp_one, args=(s, q, peer), daemon=True).start()
