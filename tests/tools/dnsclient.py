"""The DNS client the test tools share: build a query, ask it over UDP or TCP, read the answer.
Queries go to port 53 of SERVER; inside a guarded cgroup the kernel sends them to the proxy."""
import socket
import struct


def qname(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"


def query(name, qid, qtype=1):
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname(name) + struct.pack(">HH", qtype, 1)


def family(server):
    return socket.AF_INET6 if ":" in server else socket.AF_INET


def tcp_connect(server, timeout):
    c = socket.socket(family(server))
    c.settimeout(timeout)
    c.connect((server, 53))
    return c


def recv_exact(c, n):
    buf = b""
    while len(buf) < n:
        chunk = c.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def ask(server, name, tcp, qid, timeout):
    """(id matches, rcode, answer count) of one A query; OSError if none came."""
    pkt = query(name, qid)
    if tcp:
        with tcp_connect(server, timeout) as c:
            c.sendall(struct.pack(">H", len(pkt)) + pkt)
            ans = recv_exact(c, struct.unpack(">H", recv_exact(c, 2))[0])
    else:
        with socket.socket(family(server), socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(pkt, (server, 53))
            ans = s.recv(65535)
    return ans[:2] == pkt[:2], ans[3] & 0xF, struct.unpack(">H", ans[6:8])[0]
