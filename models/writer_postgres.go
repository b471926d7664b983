package models

import (
	"math/rand/v2"

	"gorm.io/gorm"
)

// Group commit on PostgreSQL.
//
// Every write updates a few rows of counts that every other write of the
// same minute updates too (the live counts' buckets, the revocations of
// the minute). PostgreSQL holds a row's lock until the transaction that
// updated it commits, and the commit waits for its WAL fsync, so with one
// transaction per write those rows admit one commit per fsync, in series,
// whatever the pool size: a few hundred writes a second across all
// replicas, most of the connections waiting on Lock/transactionid.
//
// So PostgreSQL uses the same group commit as SQLite (batcher): several
// writes share a transaction, their count deltas are merged and added
// once, and one fsync answers them all. Under load the queue grows while
// a batch runs and commits, so batches grow with it. A write still returns
// only after the commit of its batch.

// pgWriters is how many batches run at once on PostgreSQL, per process.
// One, as on SQLite. More loops overlap one batch's statements with
// another's commit, but they split the queue into smaller batches, and
// every batch has fixed work: BEGIN, the streams read, the counts upsert,
// COMMIT and its WAL flush, one revoking statement for the batch's token
// revocations, and turns on the counts rows and on PostgreSQL's WAL write
// lock. Measured with two replicas on two cores (docs/benchmarks.md,
// "PostgreSQL, two replicas"), CPU per revocation over all processes
// rose with the loop count (about 0.8, 1.0, 1.2 and 1.4 ms for 1, 2, 4
// and 8 loops) and revocations per second fell.
const pgWriters = 1

// startPostgres starts the group-commit loops on PostgreSQL.
func (b *batcher) startPostgres() {
	for range pgWriters {
		b.wg.Add(1)
		go b.loop()
	}
}

// countShards is how many rows a counts bucket is spread over on
// PostgreSQL. Each transaction adds all its deltas to one shard, picked at
// random: two commits then wait for each other's counts rows only when
// they pick the same shard. The overview sums the shards of a bucket.
const countShards = 8

// qAddCountsPostgres adds every delta of a transaction in one statement:
// one round trip where there would be one per row. The rows are locked in
// key order (ORDER BY), the same in every transaction, so concurrent
// writers cannot deadlock on them.
const qAddCountsPostgres = "INSERT INTO counts (kind, span, start, shard, n) " +
	"SELECT kind, span, start, $5, n FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS d(kind, span, start, n) " +
	"ORDER BY kind, span, start " +
	"ON CONFLICT (kind, span, start, shard) DO UPDATE SET n = counts.n + excluded.n"

// flushCountsPostgres is flushCounts on PostgreSQL: keys are the rows to
// change, deltas what to add to each.
func (s *Store) flushCountsPostgres(tx *gorm.DB, keys []countKey, deltas map[countKey]int64) error {
	if len(keys) == 0 {
		return nil
	}
	kinds := make([]string, len(keys))
	spans := make([]int64, len(keys))
	starts := make([]int64, len(keys))
	ns := make([]int64, len(keys))
	for i, k := range keys {
		kinds[i], spans[i], starts[i], ns[i] = string(k.kind), k.span, k.start, deltas[k]
	}
	_, err := s.exec(tx, qAddCountsPostgres, kinds, spans, starts, ns, rand.IntN(countShards))
	return err
}

// pgTx is the transaction under gorm's prepared-statement wrapper, for the
// statements models runs itself inside a write. gorm prepares a statement
// on the first transaction that runs it and caches that *sql.Stmt, which
// belongs to that transaction: database/sql then prepares it again in
// every later transaction, and closes it at the end of each. On
// PostgreSQL that was a Parse and a Close round trip around every
// execution, and a fresh plan each time (a new prepared statement is
// planned for its parameters on its first executions). pgx keeps its own
// cache of prepared statements per connection: through the bare
// transaction each hot statement is parsed once per connection, and runs
// in one round trip with its cached plan.
func pgTx(conn gorm.ConnPool) gorm.ConnPool {
	if p, ok := conn.(*gorm.PreparedStmtTX); ok {
		return p.Tx
	}
	return conn
}
