#!/usr/bin/env python3
"""Check a deployguard report against the fields its man page documents (REPORT section).

report_check.py REPORT MANPAGE: every field the report has is documented, every documented field
is in the report wherever its parent is, and the values that have a fixed set or form have it.
Exit 0, or 1 with what is wrong.
"""
import json
import re
import sys

OPTIONAL = {"destinations[].processes[].status", "destinations[].processes[].signal",
            "rehearsal[]", "rehearsalTimeoutMs", "rehearsalInterrupted"}  # a rehearsal's only
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
SETS = {
    "destinations[].kind": {"dns", "connect", "socket", "tamper", "delegated", "adopted", "registry"},
    "destinations[].verdict": {"allowed", "blocked", "would-block"},
    "destinations[].class": {"direct", "hidden", "transient", None},
    "destinations[].processes[].class": {"direct", "hidden"},
    "destinations[].processes[].fate": {"exited", "killed", "exec", "running", "unknown"},
    "run.mode": {"blocklist", "strict", "allowlist"},
    "rehearsal[].kind": {"name", "address"},
    "rehearsal[].outage": {"nxdomain", "servfail", "timeout", "refused", "blackhole"},
    "rehearsal[].outcome": {"hang", "hard", "soft", "error"},
}
TIMES = {"run.start", "destinations[].first", "destinations[].last", "executed[].time"}


def documented(man):
    text = open(man, encoding="utf-8").read()
    section = text.split("\n.Sh REPORT\n", 1)[1].split("\n.Sh ", 1)[0]
    fields = set()
    for line in section.splitlines():
        if not line.startswith(".It Cm "):
            continue
        tokens = [t.strip() for t in line[len(".It Cm "):].split(" , ")]
        first = tokens[0].split()[0]
        prefix = first.rsplit(".", 1)[0] + "." if "." in first else ""
        fields.add(first)
        for t in tokens[1:]:
            t = t.split()[0]
            fields.add(t if "." in t or "[" in t else prefix + t)
    return fields


def walk(value, path, seen, errors):
    if path:
        seen.setdefault(path, []).append(value)
    if isinstance(value, dict):
        for k, v in value.items():
            walk(v, f"{path}.{k}" if path else k, seen, errors)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                walk(item, path + "[]", seen, errors)


def main():
    report, man = sys.argv[1], sys.argv[2]
    doc = json.load(open(report, encoding="utf-8"))
    fields = documented(man)
    seen, errors = {}, []
    walk(doc, "", seen, errors)
    if doc.get("version") != 1:
        errors.append(f"version is {doc.get('version')!r}, not 1")
    # Documented: the field itself, or an object or list a documented field names as a whole.
    for path in seen:
        covered = path in fields or any(
            path.startswith(f + ".") or path.startswith(f + "[]")  # inside a documented one
            or f.startswith(path + ".") or f.startswith(path + "[]")  # holds documented ones
            for f in fields)
        if not covered:
            errors.append(f"{path}: in the report, not documented")
    for f in fields:
        parent = f.rsplit(".", 1)[0] if "." in f else ""
        if f in OPTIONAL or f in seen or (parent and parent not in seen):
            continue
        if parent and all(isinstance(v, dict) for v in seen[parent]):
            errors.append(f"{f}: documented, missing from the report")
        elif not parent:
            errors.append(f"{f}: documented, missing from the report")
    for parent_path in [p for p in seen if p.endswith("[]")]:
        for obj in seen[parent_path]:
            if not isinstance(obj, dict):
                continue
            for f in fields:
                if f.startswith(parent_path + ".") and "." not in f[len(parent_path) + 1:] \
                        and "[" not in f[len(parent_path) + 1:] and f not in OPTIONAL \
                        and f[len(parent_path) + 1:] not in obj:
                    errors.append(f"{f}: missing from one of {parent_path}")
    for path, allowed in SETS.items():
        for v in seen.get(path, []):
            if v not in allowed:
                errors.append(f"{path}: {v!r} is not one of {sorted(map(str, allowed))}")
    for path in TIMES:
        for v in seen.get(path, []):
            if not isinstance(v, str) or not ISO.match(v):
                errors.append(f"{path}: {v!r} is not an ISO 8601 time")
    for e in sorted(set(errors)):
        print(f"report_check: {report}: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
