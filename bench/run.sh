#!/bin/bash
# make bench: run the benchmarks and write bench/results.json and bench/results.md.
# So far: policy load (issue 5, item 6). Every figure is measured in this invocation.
set -euo pipefail
cd "$(dirname "$0")"
json=$(./policy_load 10000 100000 1000000)
{
	echo '{"policy_load": ['
	echo "$json" | paste -sd, -
	echo ']}'
} >results.json
{
	echo "# deployguard benchmarks"
	echo
	echo "$(date -u +%Y-%m-%d), $(uname -r), $(nproc) CPUs."
	echo
	echo "## Policy load (target: 1M rules in at most 1 s, at most 100 bytes per rule)"
	echo
	echo "| rules | min s | median s | max s | bytes/rule |"
	echo "| ---: | ---: | ---: | ---: | ---: |"
	echo "$json" | python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print("| {rules} | {min_s:.4f} | {median_s:.4f} | {max_s:.4f} | {bytes_per_rule:.1f} |".format(**r))'
} >results.md
cat results.md
