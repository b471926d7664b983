#!/usr/bin/env bash
# Compares two builds on SQLite the way docs/benchmarks.md measures a
# change: PAIRS pairs of runs of docs/bench/sqlite-target.sh (one run
# each, a separate server, its own ceiling), old and new alternating. The
# order within a pair alternates too (old first in odd pairs, new first in
# even ones): in the seventh session's two rounds, whichever build ran
# first in its pair did better.
#
#   docs/bench/sqlite-pairs.sh OLD_BIN NEW_BIN BASE_DB CLIENTS PAIRS [DURATION]
#
# Prints each run's ratios to its own ceiling as it goes, then, for each
# build, the median of each ratio. WORK (default: a temp dir) holds the
# database copies, deleted after each run.
set -euo pipefail
old=$1 new=$2 base=$3 clients=$4 pairs=$5 duration=${6:-10s}
here=$(cd "$(dirname "$0")" && pwd)
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
results=$work/pairs.txt
: >"$results"
for i in $(seq 1 "$pairs"); do
	order=(old new)
	((i % 2 == 0)) && order=(new old)
	for b in "${order[@]}"; do
		bin=$old
		[[ $b == new ]] && bin=$new
		mkdir -p "$work/$b"
		out=$(LATCHKEY=$bin WORK=$work/$b "$here/sqlite-target.sh" "$base" "$clients" "$duration" 1)
		rm -f "$work/$b/run.db" "$work/$b/run.db-wal" "$work/$b/run.db-shm" "$work/$b/serve.log"
		line=$(grep '^run 1: ratio to ceiling' <<<"$out")
		echo "pair $i $b: ${line#run 1: }" | tee -a "$results"
	done
done
python3 - "$results" <<'PY'
import re, statistics, sys
by = {}
for line in open(sys.argv[1]):
    m = re.match(r"pair \d+ (old|new): ratio to ceiling \(\d+/s\): (.*)$", line)
    if not m:
        continue
    for name, r in re.findall(r"(\w+) ([\d.]+)", m[2]):
        by.setdefault(m[1], {}).setdefault(name, []).append(float(r))
for b in ("old", "new"):
    if b in by:
        print(f"{b}: " + "; ".join(f"{k} {statistics.median(v):.3f} ({min(v):.3f}–{max(v):.3f})" for k, v in by[b].items()))
PY
