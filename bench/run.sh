#!/bin/bash
# make bench: run every part and write bench/results.json and bench/results.md. Every figure is
# measured in this invocation, against a baseline measured alongside (see bench/summary.py).
# Needs root and the test world; nothing else should attach BPF programs meanwhile.
# Usage: bench/run.sh [PART...]   (parts: policy_load hooks dns callgrind startup containers history;
# default all)
set -euo pipefail
cd "$(dirname "$0")"
parts=${*:-policy_load hooks dns callgrind startup containers history}
out=$(mktemp -d /tmp/dg-bench-out.XXXXXX)
trap 'rm -rf "$out"' EXIT
for p in $parts; do
	echo "bench: $p" >&2
	case $p in
	policy_load) ./policy_load 10000 100000 1000000 m1000000 ;;
	*) "./$p.sh" ;;
	esac >"$out/$p.json"
done
/usr/bin/python3 summary.py "$out"
