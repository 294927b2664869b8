#!/usr/bin/env python3
"""Check that a JSON log (deployguard --log-format json) carries every field of the text log of
the same run: each event line's key=value pairs under the same names, with the same values.
Process ids and times differ between two runs, so they are compared by presence only.
Usage: log_fields.py TEXT_LOG JSON_LOG; exits 1 naming the first line that differs."""
import json
import re
import sys

PAIR = re.compile(r' ([A-Za-z]+)=("(?:[^"\\]|\\.)*"|[^ ]*)')
EVENT = re.compile(r'^(WARN|INFO|DEBUG) ([A-Z][A-Z ]*[A-Z]) ')
VARYING = {"pid", "ppid", "peer", "time"}


def unquote(v):
    if not v.startswith('"'):
        return v
    # the text log escapes ", \ and control bytes as \" \\ \xHH
    return re.sub(r'\\(x[0-9a-f]{2}|.)',
                  lambda m: chr(int(m.group(1)[1:], 16)) if m.group(1)[0] == 'x' and len(m.group(1)) == 3
                  else m.group(1), v[1:-1])


def text_events(path):
    out = []
    for line in open(path, encoding="utf-8", errors="surrogateescape"):
        m = EVENT.match(line)
        if not m:
            continue
        fields = {"level": m.group(1), "event": m.group(2)}
        for k, v in PAIR.findall(" " + line.rstrip("\n")[m.end():]):
            fields[k] = unquote(v)
        out.append(fields)
    return out


def norm(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def key(e):
    return tuple(sorted((k, norm(v)) for k, v in e.items() if k not in VARYING))


def main():
    text = text_events(sys.argv[1])
    js = [json.loads(l) for l in open(sys.argv[2])]
    # messages go to stderr in text and into the log in JSON; the summary has its own rows
    js = [e for e in js if e.get("event") not in ("SUMMARY", "MESSAGE")]
    if not text:
        sys.exit("no event lines in " + sys.argv[1])
    for e in text:
        for k in VARYING & e.keys():
            if not any(k in j for j in js):
                sys.exit("no JSON line has %s" % k)
    want = sorted(key(e) for e in text)
    have = sorted(key(j) for j in js)
    for w in want:
        if w not in have:
            close = [h for h in have if dict(h).get("event") == dict(w).get("event")]
            sys.exit("text line %s has no JSON line with the same fields; JSON lines of that event: %s"
                     % (dict(w), [dict(h) for h in close][:3]))
        have.remove(w)
    if have:
        sys.exit("JSON lines with no text line: %s" % [dict(h) for h in have][:3])
    print("%d text lines, each matched by a JSON line with the same fields" % len(want))


main()
