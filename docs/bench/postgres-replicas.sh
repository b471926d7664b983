#!/usr/bin/env bash
# Two `latchkey serve` replicas on one PostgreSQL database, measured with
# `latchkey bench --target A --replica B` (docs/benchmarks.md, "PostgreSQL,
# two replicas").
#
# It drops and recreates the database named in LATCHKEY_BENCH_PG (it must
# be a throwaway database: everything in it is lost), migrates it, creates
# a bench client, starts two replicas on 127.0.0.1, runs bench RUNS times
# and stops the replicas. After each run it prints PostgreSQL's transactions
# and WAL syncs over the run (pg_stat_database, pg_stat_wal).
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
pids=()
stop() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap stop EXIT
for port in "$PORT_A" "$PORT_B"; do
	"$LATCHKEY" --db "$DB" serve --addr "127.0.0.1:$port" >"$logs/$port.out" 2>"$logs/$port.err" &
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
for run in $(seq "$RUNS"); do
	echo "== run $run"
	read -r c0 s0 r0 <<<"$(stats)"
	# shellcheck disable=SC2086
	"$LATCHKEY" bench --target "http://127.0.0.1:$PORT_A" --replica "http://127.0.0.1:$PORT_B" "${split[@]}" \
		--clients "$CLIENTS" --duration "$DURATION" ${BENCH_ARGS:-}
	sleep 0.5 # the statistics reach pg_stat_* within about half a second
	read -r c1 s1 r1 <<<"$(stats)"
	awk -v c="$((c1 - c0))" -v s="$((s1 - s0))" -v r="$((r1 - r0))" \
		'BEGIN { printf "  postgres over the run: %d transactions (each read outside a write is one), %d WAL syncs, %d WAL records\n", c, s, r }'
done
