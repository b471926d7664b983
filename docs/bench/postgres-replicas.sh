#!/usr/bin/env bash
# Two `latchkey serve` replicas on one PostgreSQL database, measured with
# `latchkey bench --target A --replica B` (docs/benchmarks.md, "PostgreSQL,
# two replicas").
#
# It drops and recreates the database named in LATCHKEY_BENCH_PG (it must
# be a throwaway database: everything in it is lost), migrates it, creates
# a bench client, starts two replicas on 127.0.0.1, runs bench RUNS times
# and stops the replicas. After each run it prints PostgreSQL's transactions
# and WAL syncs over the run (pg_stat_database, pg_stat_wal), and the CPU
# time per request of each phase (issue, revoke, introspect), read from
# /proc at the start and end of the phase, for each process class: the two
# replicas, the PostgreSQL backends connected to this database (found by
# their process titles) and the load generator. CPU per request depends
# much less on other load on the machine than req/s does.
#
# Environment (defaults in brackets):
#   LATCHKEY           the latchkey binary [latchkey]
#   LATCHKEY_BENCH_PG  postgres:// URL of the throwaway database
#                      [postgres://latchkey:latchkey@127.0.0.1:5432/latchkey_bench?sslmode=disable]
#   PORT_A, PORT_B     the replicas' ports [18101, 18102]
#   CLIENTS            concurrent load clients [32]
#   DURATION           length of each phase [5s]
#   RUNS               bench runs [5]
#   SPLIT              1: half the load clients use replica B (--split) [1]
#   BENCH_ARGS         more bench flags, such as --ceiling or --tokens 20000
#   SERVE_ARGS         more serve flags for both replicas
#   SERVE_ARGS_A       more serve flags for replica A only, such as
#                      --debug-pprof-addr 127.0.0.1:6061
#   REVOKE_HOOK        a command run in the background when each revocation
#                      phase starts, such as a profile of replica A:
#                      'curl -so revoke.pprof 127.0.0.1:6061/debug/pprof/profile?seconds=4'
set -euo pipefail

LATCHKEY=${LATCHKEY:-latchkey}
DB=${LATCHKEY_BENCH_PG:-postgres://latchkey:latchkey@127.0.0.1:5432/latchkey_bench?sslmode=disable}
PORT_A=${PORT_A:-18101}
PORT_B=${PORT_B:-18102}
CLIENTS=${CLIENTS:-32}
DURATION=${DURATION:-5s}
RUNS=${RUNS:-5}
SPLIT=${SPLIT:-1}

name=${DB##*/}
name=${name%%\?*}
case $name in
'' | postgres | template*) echo "LATCHKEY_BENCH_PG must name a throwaway database, not '$name'" >&2; exit 2 ;;
esac
# The same server, database "postgres", to drop and create the bench one.
admin=${DB/\/$name/\/postgres}

psql -qX "$admin" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" -c "CREATE DATABASE \"$name\""
psql -qXAt "$DB" -c "SHOW fsync" -c "SHOW synchronous_commit" | paste -sd' ' | sed 's/^/fsync, synchronous_commit: /'
"$LATCHKEY" --db "$DB" migrate
client=$("$LATCHKEY" --db "$DB" client create --name bench --type confidential \
	--grant client_credentials --introspect --json)
export LATCHKEY_BENCH_CLIENT_ID LATCHKEY_BENCH_CLIENT_SECRET
LATCHKEY_BENCH_CLIENT_ID=$(jq -r .client_id <<<"$client")
LATCHKEY_BENCH_CLIENT_SECRET=$(jq -r .client_secret <<<"$client")

logs=$(mktemp -d)
mkfifo "$logs/bench.out"
pids=()
stop() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop EXIT
for port in "$PORT_A" "$PORT_B"; do
	# shellcheck disable=SC2086
	extra=${SERVE_ARGS:-}
	[ "$port" = "$PORT_A" ] && extra="$extra ${SERVE_ARGS_A:-}"
	# shellcheck disable=SC2086
	"$LATCHKEY" --db "$DB" serve --addr "127.0.0.1:$port" $extra >"$logs/$port.out" 2>"$logs/$port.err" &
	pids+=($!)
done
for port in "$PORT_A" "$PORT_B"; do
	for _ in $(seq 100); do
		grep -q "listening" "$logs/$port.out" 2>/dev/null && break
		sleep 0.1
	done
	grep -q "listening" "$logs/$port.out" || { cat "$logs/$port.err" >&2; exit 1; }
done
echo "replicas: A 127.0.0.1:$PORT_A (pid ${pids[0]}), B 127.0.0.1:$PORT_B (pid ${pids[1]}); logs in $logs"

split=()
[ "$SPLIT" = 1 ] && split=(--split)
# A fresh database has no planner statistics: until autovacuum analyzes
# it (within a minute or so of the first writes), the cached plan of the
# revocation statement may scan every live token. Fill it, then analyze,
# as a database in service would be.
echo "warm-up (not measured), then ANALYZE"
"$LATCHKEY" bench --target "http://127.0.0.1:$PORT_A" --clients "$CLIENTS" --duration 3s --tokens 10000 >/dev/null
psql -qX "$DB" -c "ANALYZE tokens, grants, audit_events, counts, clients, users, events, streams"
stats() {
	psql -qXAt "$DB" -c "SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) || ' ' || wal_sync || ' ' || wal_records FROM pg_stat_wal"
}
# ticks PID...: the CPU time (user + system, in clock ticks) the processes
# used so far.
ticks() {
	local t=0 p f
	for p in "$@"; do
		f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		f=${f##*) } # past the command name, which may hold spaces
		read -r -a v <<<"$f"
		t=$((t + v[11] + v[12])) # utime and stime, fields 14 and 15
	done
	echo "$t"
}
# backends: the PostgreSQL processes serving this database.
backends() {
	grep -lsaF "postgres: ${DB_USER} ${name} " /proc/[0-9]*/cmdline | cut -d/ -f3
}
DB_USER=${DB#*://}
DB_USER=${DB_USER%%[:@]*}
hz=$(getconf CLK_TCK)
# gen PID: the CPU ticks of the shell PID that runs bench, with bench's,
# whether bench is still running or has ended (then its time is the
# shell's children's time, fields 16 and 17).
gen() {
	local f
	f=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
	f=${f##*) }
	read -r -a v <<<"$f"
	# shellcheck disable=SC2046
	echo $((v[11] + v[12] + v[13] + v[14] + $(ticks $(pgrep -P "$1"))))
}
# cpu PID: "replicas postgres load-generator" CPU ticks so far.
cpu() {
	# shellcheck disable=SC2046
	echo "$(ticks "${pids[@]}") $(ticks $(backends)) $(gen "$1")"
}
# account: reads bench's output as it comes, copies it, and after each
# phase's line prints the phase's CPU per request for each process class.
account() {
	local line at=() now=() n pid=$1
	at=($(cpu "$pid"))
	while IFS= read -r line; do
		echo "$line"
		case $line in
		issue:* | revoke:* | introspect:*)
			# bench ends after its last line: let it, so that its time is
			# its parent's (see gen) when read.
			case $line in introspect:*) sleep 0.15 ;; esac
			now=($(cpu "$pid"))
			n=$(sed -E 's/.* ([0-9]+) ok.*/\1/' <<<"$line")
			awk -v ph="${line%%:*}" -v n="$n" -v hz="$hz" -v r="$((now[0] - at[0]))" -v p="$((now[1] - at[1]))" -v b="$((now[2] - at[2]))" \
				'BEGIN { if (n > 0) printf "  CPU per %s: %.0f µs in all (replicas %.0f, postgres %.0f, load generator %.0f)\n", ph, (r+p+b)*1e6/hz/n, r*1e6/hz/n, p*1e6/hz/n, b*1e6/hz/n }'
			;;
		target:* | "load split"* | "  issued "* | "  verified:"*) at=($(cpu "$pid")) ;;&
		"  issued "*) if [ -n "${REVOKE_HOOK:-}" ]; then sh -c "$REVOKE_HOOK" & fi ;;
		esac
	done
}
for run in $(seq "$RUNS"); do
	echo "== run $run"
	read -r c0 s0 r0 <<<"$(stats)"
	# shellcheck disable=SC2086
	# bench runs under a shell of its own (see gen) that outlives it by a
	# moment, so that its CPU time is still there to read after it ends.
	sh -c '"$@"; rc=$?; sleep 0.3; exit $rc' bench "$LATCHKEY" bench --target "http://127.0.0.1:$PORT_A" --replica "http://127.0.0.1:$PORT_B" "${split[@]}" \
		--clients "$CLIENTS" --duration "$DURATION" ${BENCH_ARGS:-} >"$logs/bench.out" &
	bpid=$!
	account "$bpid" <"$logs/bench.out"
	wait "$bpid"
	sleep 0.5 # the statistics reach pg_stat_* within about half a second
	read -r c1 s1 r1 <<<"$(stats)"
	awk -v c="$((c1 - c0))" -v s="$((s1 - s0))" -v r="$((r1 - r0))" \
		'BEGIN { printf "  postgres over the run: %d transactions (each read outside a write is one), %d WAL syncs, %d WAL records\n", c, s, r }'
done
