#!/usr/bin/python3
"""make stress, inside the guarded cgroup: many processes ask at once, many processes come and go.

usage: stress.py SERVER WORKERS QUERIES SHORTLIVED ROUNDS OUTDIR

Each round: WORKERS processes start together and ask QUERIES queries in all, in turn over UDP and
TCP, for allowed names (an address must come back) and blocked ones (NXDOMAIN must come back);
then SHORTLIVED processes (dig, 25 at a time) each ask for a blocked name once and exit.
After each round it reads deployguard (its parent): VmRSS, open fds, and the entries of the maps
of its programs. Writes OUTDIR/queries (pid transport name verdict, one line per query) and
OUTDIR/rounds (one JSON object per round); prints a line per round; exits 1 if any query went wrong.
"""
import json
import os
import subprocess
import sys
import time

import dnsclient

server, workers, queries, shortlived, rounds, out = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
ALLOWED = ["pkgs.example.org", "mirror.example.org", "deploy-api.internal.example"]
BLOCKED = ["github.com", "api.github.com"]
dg = os.getppid()


def ask(name, tcp, qid):
    same_id, rcode, ancount = dnsclient.ask(server, name, tcp, qid, 10 if tcp else 5)
    if not same_id:
        return "wrong-id"
    return "nxdomain" if rcode == 3 else "answer" if rcode == 0 and ancount else "rcode%d" % rcode


def worker(n, count, go):
    os.read(go, 1)  # all start together
    lines = []
    for i in range(count):
        names = BLOCKED if (n + i) % 3 == 0 else ALLOWED
        name, tcp = names[(n + i) % len(names)], (n + i) % 2 == 1
        try:
            got = ask(name, tcp, (n * 7919 + i) & 0xFFFF)
        except OSError as e:
            got = "error:" + type(e).__name__
        want = "nxdomain" if names is BLOCKED else "answer"
        lines.append("%d %s %s %s %s\n" % (os.getpid(), "tcp" if tcp else "udp", name, want, got))
    with open(os.path.join(out, "queries"), "a") as f:
        f.write("".join(lines))  # one write per worker: lines of workers never mix
    os._exit(0)


def deployguard_state():
    rss = int(next(l.split()[1] for l in open("/proc/%d/status" % dg) if l.startswith("VmRSS:")))
    fds = os.listdir("/proc/%d/fd" % dg)
    progs = set()
    for fd in fds:
        try:
            for line in open("/proc/%d/fdinfo/%s" % (dg, fd)):
                if line.startswith("prog_id:"):
                    progs.add(int(line.split()[1]))
        except OSError:
            pass
    maps = {}
    for p in progs:
        info = json.loads(subprocess.check_output(["bpftool", "-j", "prog", "show", "id", str(p)]))
        for m in info.get("map_ids", []):
            minfo = json.loads(subprocess.check_output(["bpftool", "-j", "map", "show", "id", str(m)]))
            if minfo["type"] in ("sk_storage", "ringbuf"):
                continue  # freed with the sockets / not a table
            dump = subprocess.run(["bpftool", "-j", "map", "dump", "id", str(m)], capture_output=True, text=True)
            maps[minfo["name"]] = len(json.loads(dump.stdout)) if dump.returncode == 0 else -1
    return {"rss_kb": rss, "fds": len(fds), "map_entries": maps}


def one_round(r):
    t0 = time.monotonic()
    rd, wr = os.pipe()
    pids = []
    for n in range(workers):
        count = queries // workers + (n < queries % workers)
        pid = os.fork()
        if pid == 0:
            os.close(wr)
            worker(n + r * workers, count, rd)
        pids.append(pid)
    os.close(rd)
    os.close(wr)  # go
    for pid in pids:
        os.waitpid(pid, 0)
    t_workers = time.monotonic() - t0
    running, done = [], 0
    with open(os.path.join(out, "queries"), "a") as f:
        while done < shortlived or running:
            while done + len(running) < shortlived and len(running) < 25:
                name = BLOCKED[done % 2]
                running.append((subprocess.Popen(["dig", "+tries=1", "+time=5", "@" + server, name],
                                                 stdout=subprocess.PIPE, text=True), name))
            p, name = running.pop(0)
            text = p.communicate()[0]
            got = "nxdomain" if "status: NXDOMAIN" in text else "other"
            f.write("%d udp %s nxdomain %s\n" % (p.pid, name, got))
            done += 1
    state = deployguard_state()
    state.update(round=r + 1, workers_s=round(t_workers, 2), total_s=round(time.monotonic() - t0, 2))
    return state


bad = 0
for r in range(rounds):
    state = one_round(r)
    with open(os.path.join(out, "rounds"), "a") as f:
        f.write(json.dumps(state) + "\n")
    print("round %(round)d: %(workers_s)s s for the workers, %(total_s)s s in all; deployguard: "
          "VmRSS %(rss_kb)d kB, %(fds)d fds, map entries %(map_entries)s" % state, flush=True)
for line in open(os.path.join(out, "queries")):
    _, _, _, want, got = line.split()
    bad += want != got
print("queries: %d wrong" % bad)
sys.exit(1 if bad else 0)
