#!/usr/bin/python3
"""Send one DNS query over an unconnected UDP socket and print what came back, and from where.

usage: dnsq.py SERVER NAME [hex:RAWPACKET]
Prints "from=ADDR port=PORT rcode=N answers=N", or "timeout". With hex:..., sends those bytes
instead of a query built for NAME (for malformed-packet tests).
"""
import socket
import struct
import sys

import dnsclient

server, name = sys.argv[1], sys.argv[2]
if len(sys.argv) > 3 and sys.argv[3].startswith("hex:"):
    pkt = bytes.fromhex(sys.argv[3][4:])
else:
    pkt = dnsclient.query(name.rstrip("."), 0x1234)
s = socket.socket(dnsclient.family(server), socket.SOCK_DGRAM)
s.settimeout(4)
s.sendto(pkt, (server, 53))
try:
    data, addr = s.recvfrom(65535)
except socket.timeout:
    print("timeout")
    sys.exit(1)
rcode = data[3] & 0xF if len(data) >= 4 else -1
answers = struct.unpack(">H", data[6:8])[0] if len(data) >= 8 else -1
print("from=%s port=%d rcode=%d answers=%d" % (addr[0], addr[1], rcode, answers))
