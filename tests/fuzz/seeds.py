#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets: tests/fuzz/corpus/{query,answer,policy}/.

Seeds are well-formed messages and files of each kind the proxy meets, so that the fuzzer starts
from the paths that matter. Run it again after changing it; the output is deterministic."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def name(n):
    return b"".join(bytes([len(l)]) + l.encode() for l in n.split(".") if l) + b"\0"


def header(qid, flags, qd, an):
    return struct.pack(">HHHHHH", qid, flags, qd, an, 0, 0)


def question(n, qtype):
    return name(n) + struct.pack(">HH", qtype, 1)


def rr(owner, rtype, ttl, rdata):
    return owner + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


PTR = b"\xc0\x0c"  # the question's name
SEEDS = {
    "query": {
        "a_github": header(0x1234, 0x0100, 1, 0) + question("github.com", 1),
        "aaaa_deep": header(7, 0x0100, 1, 0) + question("a.b.c.d.example.org", 28),
        "https": header(8, 0x0100, 1, 0) + question("svc.example.org", 65),
        "two_questions": header(9, 0x0100, 2, 0) + question("a.example", 1) + question("b.example", 1),
        "edns": header(10, 0x0100, 1, 0)[:10] + b"\0\1" + question("github.com", 1)
        + b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0),
    },
    "answer": {
        "a": header(1, 0x8180, 1, 1) + question("github.com", 1)
        + rr(PTR, 1, 60, bytes([192, 0, 2, 10])),
        "cname_chain": header(2, 0x8180, 1, 3) + question("release.example.org", 1)
        + rr(PTR, 5, 30, name("objects.githubusercontent.com"))
        + rr(name("objects.githubusercontent.com"), 1, 30, bytes([192, 0, 2, 12]))
        + rr(name("objects.githubusercontent.com"), 28, 30, bytes(16)),
        "srv": header(3, 0x8180, 1, 1) + question("_deploy._tcp.example.org", 33)
        + rr(PTR, 33, 60, struct.pack(">HHH", 0, 0, 443) + name("github.com")),
        "https": header(4, 0x8180, 1, 1) + question("svc.example.org", 65)
        + rr(PTR, 65, 60, struct.pack(">H", 1) + name("github.com")),
        "nxdomain": header(5, 0x8183, 1, 0) + question("nope.example", 1),
    },
    "policy": {
        "names": b"# deploy blocklist\ngithub.com\n*.githubusercontent.com\n  api.example.org  # trailing\n",
        "nets": b"192.0.2.0/24\n2001:db8::/32\n198.18.0.1\n::ffff:192.0.2.1\n",
        "bad": b"not a rule at all\n300.1.1.1/33\n-bad-.example\n",
        "ports": b"example.com:443 # web\n=example.com:22/tcp\n*.example.org:8080/udp\n"
        b"api-*.example.net:443\n198.18.0.0/15:53/udp\n[2001:db8::1]:443\n:25\n:53/TCP\n"
        b"[2001:db8::/32]:22\nexample.com:0\n[::1\n:99999/sctp\n",
    },
}

for kind, seeds in SEEDS.items():
    d = os.path.join(HERE, "corpus", kind)
    os.makedirs(d, exist_ok=True)
    for n, data in seeds.items():
        with open(os.path.join(d, n), "wb") as f:
            f.write(data)
