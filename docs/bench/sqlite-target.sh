#!/usr/bin/env bash
# Measures a separate `latchkey serve` process on SQLite with
# `latchkey bench --target --ceiling`, as docs/benchmarks.md reports it.
#
#   docs/bench/sqlite-target.sh BASE_DB CLIENTS DURATION RUNS [TOKENS]
#
# Each run starts from a fresh copy of BASE_DB (make one with
# `latchkey --db FILE bench fill --tokens N`), creates a bench client,
# starts the server on 127.0.0.1, samples the WAL file's size every 50 ms,
# runs the bench (ceiling, issuance, revocation, introspection), then reads
# the server's peak RSS (VmHWM) and its commit times (/metrics) and stops
# it. The last lines are the medians over the runs, with what each phase
# cost the whole machine (its CPU per request). LATCHKEY (default: go
# build ./cmd/latchkey) is the binary, copied into WORK; WORK (default: a
# temp dir, removed at the end) holds the copies, and keeps runs.txt and
# the last 1,000 lines of serve.log when given.
set -euo pipefail
base=$1 clients=$2 duration=$3 runs=$4 tokens=${5:-0}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=${WORK:-$(mktemp -d)}
# The run's database copy grows to a few GB and the server's request log
# to hundreds of MB (one line a request), so neither outlives the script:
# the copy is removed and the log cut to its last 1,000 lines, whether
# the script ends or fails. A temp dir the script made goes whole. (Left
# behind, they once filled this machine's disk, and a nearly full ext4
# slows every commit's writes.)
cleanup() {
	if [[ -n ${pid:-} ]] && kill -0 "$pid" 2>/dev/null; then # a run that failed
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -f "$work/run.db" "$work/run.db-wal" "$work/run.db-shm"
	if [[ -f $work/serve.log ]]; then
		tail -n 1000 "$work/serve.log" >"$work/serve.log.tail" && mv "$work/serve.log.tail" "$work/serve.log"
	fi
	if [[ -z ${WORK:-} ]]; then rm -rf "$work"; fi
}
trap cleanup EXIT
# The binary is copied into WORK, as installing it would: a file the Go
# linker has just written maps about 6 MB more of itself into the process
# (26 MB at idle here, against 20 MB for the same bytes copied or read
# cold), which would count in the peak RSS without being Latchkey's.
lk=$work/latchkey
if [[ -n ${LATCHKEY:-} ]]; then
	cp "$LATCHKEY" "$lk.tmp"
else
	(cd "$root" && go build -o "$lk.built" ./cmd/latchkey)
	cp "$lk.built" "$lk.tmp"
	rm -f "$lk.built"
fi
mv "$lk.tmp" "$lk"
port=${PORT:-18300}
out=$work/runs.txt
: >"$out"
for i in $(seq 1 "$runs"); do
	db=$work/run.db
	rm -f "$db" "$db-wal" "$db-shm"
	cp "$base" "$db"
	# Write the copy out first: hundreds of MB of dirty pages flushed by
	# the kernel during a run would compete with the commits' fsyncs.
	sync "$db"
	tokens_before=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM tokens').fetchone()[0])" "$db")
	creds=$("$lk" --db "$db" client create --name bench --type confidential --grant client_credentials --introspect --json)
	export LATCHKEY_BENCH_CLIENT_ID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$creds")
	export LATCHKEY_BENCH_CLIENT_SECRET=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$creds")
	"$lk" --db "$db" serve --addr 127.0.0.1:$port >"$work/serve.log" 2>&1 &
	pid=$!
	for _ in $(seq 1 100); do curl -sf http://127.0.0.1:$port/readyz >/dev/null && break; sleep 0.1; done
	(maxwal=0; while kill -0 $pid 2>/dev/null; do
		s=$(stat -c %s "$db-wal" 2>/dev/null || echo 0); ((s > maxwal)) && maxwal=$s && echo $maxwal >"$work/maxwal"
		sleep 0.05; done) &
	sampler=$!
	args=(bench --target http://127.0.0.1:$port --ceiling --clients "$clients" --duration "$duration")
	((tokens > 0)) && args+=(--tokens "$tokens")
	res=$("$lk" "${args[@]}")
	hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
	# The commit times (latchkey_write_commit_seconds): how many commits
	# the run made, and how many took over 50 and over 100 ms, to tell a
	# stall in the writer from one elsewhere.
	commits=$( (curl -s http://127.0.0.1:$port/metrics || true) | awk '
		/^latchkey_write_commit_seconds_bucket\{le="0.05"\}/ {le50 = $2}
		/^latchkey_write_commit_seconds_bucket\{le="0.1"\}/ {le100 = $2}
		/^latchkey_write_commit_seconds_count/ {n = $2}
		END {printf "%d commits, %d over 50 ms, %d over 100 ms", n, n - le50, n - le100}')
	kill -TERM $pid; wait $pid || true
	wait $sampler 2>/dev/null || true
	echo "$res" | sed "s/^/run $i: /"
	echo "run $i: tokens at start $tokens_before; peak RSS ${hwm} kB; largest WAL $(cat "$work/maxwal" 2>/dev/null || echo 0) bytes; $commits"
	{ echo "$res"; echo "rss_kb $hwm"; echo "wal_bytes $(cat "$work/maxwal" 2>/dev/null || echo 0)"; echo "--"; } >>"$out"
	rm -f "$work/maxwal"
done
python3 - "$out" <<'PY'
import re, statistics, sys
runs = open(sys.argv[1]).read().split("--\n")
rows = {}
for r in runs:
    for m in re.finditer(r"^(\w+): \d+ clients for [^:]+: (\d+) ok, (\d+) failed; (\d+)/s; p50 (\S+), p99 (\S+), max (\S+)$", r, re.M):
        rows.setdefault(m[1], []).append(m.groups()[1:])
    # What each phase cost the whole machine (bench prints it on Linux).
    for m in re.finditer(r"^(\w+): \d+ clients .*\n  machine: ([\d.]+) % of \d+ CPUs busy; ([\d.]+) µs of CPU per request", r, re.M):
        rows.setdefault("machine " + m[1], []).append((float(m[2]), float(m[3])))
    for k in ("rss_kb", "wal_bytes"):
        m = re.search(rf"^{k} (\d+)$", r, re.M)
        if m: rows.setdefault(k, []).append(int(m[1]))
def ms(s):
    v = float(re.match(r"[\d.]+", s)[0]); u = s[len(re.match(r"[\d.]+", s)[0]):]
    return v * {"s": 1000, "ms": 1, "µs": 0.001, "ns": 1e-6}[u]
# Each run's rate over the same run's ceiling; the median of those is the
# ratio docs/benchmarks.md reports (the host's speed moves between runs).
ratio_runs = {}
for r in runs:
    rates = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+): \d+ clients for [^:]+: \d+ ok, \d+ failed; (\d+)/s", r, re.M)}
    if rates.get("ceiling"):
        for name, rate in rates.items():
            ratio_runs.setdefault(name, []).append(rate / rates["ceiling"])
print(f"medians of {len(runs)-1} runs")
for name in ("ceiling", "issue", "revoke", "introspect"):
    xs = rows.get(name)
    if not xs: continue
    rate = statistics.median(int(x[2]) for x in xs)
    rates = [int(x[2]) for x in xs]
    rr = ratio_runs.get(name, [0])
    print(f"{name}: {rate:.0f}/s (runs {', '.join(map(str, rates))}); ratio {statistics.median(rr):.3f} ({min(rr):.3f}–{max(rr):.3f}); "
          f"p50 {statistics.median(ms(x[3]) for x in xs):.2f} ms; p99 {statistics.median(ms(x[4]) for x in xs):.2f} ms; "
          f"max {max(ms(x[5]) for x in xs):.1f} ms (median {statistics.median(ms(x[5]) for x in xs):.1f}); failed {sum(int(x[1]) for x in xs)}")
    mc = rows.get("machine " + name)
    if mc:
        per = [x[1] for x in mc]
        line = f"  machine: {statistics.median(x[0] for x in mc):.1f} % busy; {statistics.median(per):.1f} µs of CPU per request ({min(per):.1f}–{max(per):.1f})"
        cm = rows.get("machine ceiling")
        if cm and name != "ceiling":
            # Each run's ceiling cost over the phase's, as the ratios are.
            cr = [c[1] / x[1] for c, x in zip(cm, mc)]
            line += f"; the ceiling's cost over this {statistics.median(cr):.3f}"
        print(line)
if "rss_kb" in rows: print(f"peak RSS: median {statistics.median(rows['rss_kb'])/1024:.0f} MB, max {max(rows['rss_kb'])/1024:.0f} MB")
if "wal_bytes" in rows: print(f"largest WAL: median {statistics.median(rows['wal_bytes'])/2**20:.1f} MiB, max {max(rows['wal_bytes'])/2**20:.1f} MiB")
PY
