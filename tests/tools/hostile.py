#!/usr/bin/python3
"""Hostile traffic to the DNS proxy, from inside the guarded cgroup, while a good client asks.

usage: hostile.py SERVER SECONDS

For SECONDS, all at once: UDP garbage (truncated headers, compression loops, oversized names,
bad counts, random bytes, 64 KiB datagrams), TCP clients that announce a 64 KiB or 4 KiB query and
never send it, and a flood of slow TCP clients that connect, send one byte and hold on. Meanwhile
the good client asks every 20 ms, in turn over UDP and TCP, for pkgs.example.org (an address must
come back) and github.com (NXDOMAIN must come back), each within 2 s.

Prints "good: N asked, M answered right, p50 X ms, max Y ms" and what the attackers sent; exits 1
unless every good query was answered right.
"""
import os
import random
import socket
import struct
import sys
import threading
import time

import dnsclient
from dnsclient import qname

server, seconds = sys.argv[1], float(sys.argv[2])
stop = time.monotonic() + seconds
sent = {"udp garbage": 0, "tcp stalled": 0, "tcp slow": 0}


HDR = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
GARBAGE = [
    b"\x12",  # truncated headers
    b"\x12\x34\x01\x00\x00\x01\x00",
    HDR,  # a question promised, none there
    HDR + b"\xc0\x0c\x00\x01\x00\x01",  # a pointer to itself
    HDR + b"\x01a\xc0\x0e\x00\x01\x00\x01",  # a pointer to the label that holds it
    HDR + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",  # a 64-byte label
    HDR + (b"\x3f" + b"a" * 63) * 5 + b"\x00\x00\x01\x00\x01",  # a 320-byte name
    HDR + qname("a." * 127 + "a") + b"\x00\x01\x00\x01",  # 128 labels, 256 bytes
    struct.pack(">HHHHHH", 1, 0x0100, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF) + qname("x.org"),
    struct.pack(">HHHHHH", 1, 0x8180, 1, 1, 0, 0) + qname("x.org"),  # an answer, not a query
    HDR + qname("x.org") + b"\x00\x01\x00\x01" + b"\xff" * 65000,  # 64 KiB
]


def udp_garbage():
    s = socket.socket(dnsclient.family(server), socket.SOCK_DGRAM)
    s.setblocking(False)
    rnd = random.Random(5)
    while time.monotonic() < stop:
        for pkt in GARBAGE + [rnd.randbytes(rnd.randrange(0, 600)) for _ in range(4)]:
            try:
                s.sendto(pkt, (server, 53))
                sent["udp garbage"] += 1
            except (BlockingIOError, OSError):
                pass
        try:
            while s.recv(65535):  # the FORMERRs, unread they would fill the buffer
                pass
        except BlockingIOError:
            pass
        time.sleep(0.001)


def tcp_attack(kind, first_bytes, hold):
    held = []
    while time.monotonic() < stop:
        try:
            c = dnsclient.tcp_connect(server, 2)
            c.send(first_bytes)
            held.append(c)
            sent[kind] += 1
        except OSError:
            time.sleep(0.01)
        while len(held) > hold:  # stay within our own fd limit; the proxy sees a steady flood
            held.pop(0).close()
        time.sleep(0.002)
    for c in held:
        c.close()


def ask(name, tcp, qid):
    """A query answered right. A UDP datagram the flood crowds out of the proxy's socket buffer is
    lost, as on any flooded resolver: ask once more, as a stub resolver does (glibc: attempts:2)."""
    for attempt in (1, 2):
        try:
            same_id, rcode, ancount = dnsclient.ask(server, name, tcp, qid, 2)
            break
        except OSError:
            if tcp or attempt == 2:
                raise
            retried[0] += 1
    return same_id and (rcode == 3 if name == "github.com" else rcode == 0 and ancount > 0)


retried = [0]


threads = [
    threading.Thread(target=udp_garbage),
    threading.Thread(target=tcp_attack, args=("tcp stalled", b"\xff\xff" + os.urandom(8), 50)),
    threading.Thread(target=tcp_attack, args=("tcp stalled", b"\x10\x00" + os.urandom(8), 50)),
    threading.Thread(target=tcp_attack, args=("tcp slow", b"\x00", 300)),
]
for t in threads:
    t.start()
asked, right, lat = 0, 0, []
while time.monotonic() < stop:
    for name in ("pkgs.example.org", "github.com"):
        t0 = time.monotonic()
        try:
            ok = ask(name, asked % 4 >= 2, asked + 1)
        except OSError as e:
            print("good query %d (%s, %s) failed: %s" % (asked, name, "tcp" if asked % 4 >= 2 else "udp", e))
            ok = False
        lat.append((time.monotonic() - t0) * 1000)
        asked += 1
        right += ok
    time.sleep(0.02)
for t in threads:
    t.join()
lat.sort()
print("good: %d asked, %d answered right (%d UDP retries), p50 %.2f ms, max %.2f ms"
      % (asked, right, retried[0], lat[len(lat) // 2], lat[-1]))
print("attackers sent: " + ", ".join("%s %d" % kv for kv in sent.items()))
sys.exit(0 if asked and right == asked else 1)
