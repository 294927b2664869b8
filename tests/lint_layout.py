#!/usr/bin/env python3
"""make lint: README's Layout table names every source file at the top level, and nothing that
is not there."""
import glob
import re
import sys

text = open("README.md").read()
table = text[text.index("## Layout"):]
named = set(re.findall(r"`([\w.]+\.c)`", table.split("| `tests/` |")[0]))
tree = set(glob.glob("*.c"))
missing, stale = sorted(tree - named), sorted(named - tree)
for f in missing:
    print(f"README.md: Layout does not name {f}")
for f in stale:
    print(f"README.md: Layout names {f}, which is not in the tree")
sys.exit(1 if missing or stale else 0)
