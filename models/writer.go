package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

// maxBatch bounds how many writes share one commit.
const maxBatch = 256

// writeOp is one caller's unit of work waiting for the writer.
type writeOp struct {
	fn   func(tx *gorm.DB) error
	ctx  context.Context
	done chan error
	// tally collects the revocations fn makes, counted once committed;
	// txCtx carries it to fn through tx.Statement.Context.
	tally *tally
	txCtx context.Context
	// rev, when set, is a token revocation instead of fn: the writer runs
	// every revocation of a batch together, in a few multi-row statements
	// (see revokeTokensTx), before the batch's other writes.
	rev *tokenRevocation
}

// batcher is group commit for SQLite. SQLite has one writer and, with
// synchronous=FULL, every commit costs an fsync. Rather than weaken
// durability, concurrent writers share a transaction: one goroutine takes
// every operation waiting (up to maxBatch), runs them back to back in one
// transaction, commits once, and only then answers them all. A caller's
// answer therefore always follows its fsync.
//
// The batching is optimistic: there is no savepoint between operations,
// because they rarely fail. When one operation of a batch fails, the whole
// transaction is rolled back and every operation of the batch runs again,
// each alone in a transaction of its own (see run), so a failure reaches
// only its own caller and the others still commit. Operations must
// therefore be safe to run twice. On PostgreSQL, pgWriters loops share the
// queue (see writer_postgres.go).
type batcher struct {
	s    *Store
	ops  chan *writeOp
	quit chan struct{}
	// stopped is closed once every loop has returned, after answering
	// what was queued: an operation queued later is never run.
	stopped chan struct{}
	closed  sync.Once
	wg      sync.WaitGroup
}

func newBatcher(s *Store) *batcher {
	b := &batcher{s: s, ops: make(chan *writeOp, 4*maxBatch), quit: make(chan struct{}), stopped: make(chan struct{})}
	switch s.dialect {
	case DialectSQLite:
		b.wg.Add(1)
		go b.loop()
	case DialectPostgres:
		b.startPostgres()
	}
	return b
}

func (b *batcher) close() {
	b.closed.Do(func() {
		close(b.quit)
		b.wg.Wait()
		close(b.stopped)
	})
}

// write runs fn in a transaction and returns once it is durably committed
// (or rolled back, when fn fails). fn must not keep tx.
func (s *Store) write(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return s.enqueue(ctx, &writeOp{fn: fn})
}

// enqueue hands op to the writer and waits for its answer.
func (s *Store) enqueue(ctx context.Context, op *writeOp) error {
	op.ctx, op.done = ctx, make(chan error, 1)
	// The transaction's context is not the caller's: one caller giving up
	// must not fail the batch it shares.
	op.tally, op.txCtx = withTally(context.Background())
	select {
	case s.batch.ops <- op:
	case <-s.batch.quit:
		return fmt.Errorf("%w: store is closed", ErrUnavailable)
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, wait for the answer even if ctx ends: the operation may
	// already be committed, and the caller must not report otherwise. The
	// queue has room, so a send can still succeed while the store closes,
	// after the writer's last look at it; once the writer has stopped, an
	// operation it did not answer was never run.
	select {
	case err := <-op.done:
		return err
	case <-s.batch.stopped:
		select {
		case err := <-op.done:
			return err
		default:
			return fmt.Errorf("%w: store is closed", ErrUnavailable)
		}
	}
}

func (b *batcher) loop() {
	defer b.wg.Done()
	batch := make([]*writeOp, 0, maxBatch)
	for {
		select {
		case op := <-b.ops:
			batch = append(batch[:0], op)
		case <-b.quit:
			// Drain: answer whatever is queued.
			for {
				select {
				case op := <-b.ops:
					b.run([]*writeOp{op})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case op := <-b.ops:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		b.run(batch)
		b.s.ckpt.afterBatch()
	}
}

// run executes a batch in one transaction, optimistically: operations
// rarely fail, so they run back to back with no savepoint between them. If
// one fails, the whole transaction is rolled back and every operation of
// the batch runs again in a transaction of its own, so each caller gets
// exactly its own result. Operations must therefore be safe to run twice:
// each sets its outputs afresh on every run.
func (b *batcher) run(batch []*writeOp) {
	live := batch[:0:0]
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.done <- err
			continue
		}
		live = append(live, op)
	}
	if len(live) == 0 {
		return
	}
	if len(live) > 1 {
		if b.runTogether(live) {
			return
		}
	}
	for _, op := range live {
		b.runTogether([]*writeOp{op})
	}
}

// runTogether runs ops in one transaction and answers them all, unless one
// of several fails: then it rolls back, answers nobody and reports false.
func (b *batcher) runTogether(ops []*writeOp) bool {
	tx, end, err := b.s.beginWrite()
	if err != nil {
		for _, op := range ops {
			op.done <- fmt.Errorf("%w: begin: %w", ErrUnavailable, err)
		}
		return true
	}
	// Wherever this returns, the connection goes back (see beginWrite),
	// and a transaction a panic left open is rolled back.
	defer end()
	for _, op := range ops {
		op.tally.reset() // afresh: a batch may run twice
	}
	if err := safeRun(func(tx *gorm.DB) error { return b.s.revokeTokensTx(tx, ops) }, tx); err != nil {
		tx.Rollback()
		if len(ops) > 1 {
			return false
		}
		ops[0].done <- err
		return true
	}
	for _, op := range ops {
		if op.fn == nil {
			continue
		}
		tx.Statement.Context = op.txCtx
		if err := safeRun(op.fn, tx); err != nil {
			tx.Rollback()
			if len(ops) > 1 {
				return false
			}
			op.done <- err
			return true
		}
	}
	// The outbox events of every write of the batch, in one go, inside
	// the transaction (see flushOutbox).
	var evs []*Event
	for _, op := range ops {
		evs = append(evs, op.tally.events...)
	}
	queued, err := b.s.flushOutbox(tx, evs)
	if err == nil {
		tallies := make([]*tally, len(ops))
		for i, op := range ops {
			tallies[i] = op.tally
		}
		err = b.s.flushCounts(tx, mergeCounts(tallies))
	}
	if err != nil {
		tx.Rollback()
		if len(ops) > 1 {
			return false
		}
		ops[0].done <- err
		return true
	}
	if queued > 0 {
		ops[0].tally.queued = true // wakes the delivery once committed
	}
	start := time.Now()
	if err := tx.Commit().Error; err != nil {
		for _, op := range ops {
			op.done <- fmt.Errorf("%w: commit: %w", ErrUnavailable, err)
		}
		return true
	}
	d := time.Since(start)
	end()
	b.s.counters.countCommit(len(ops), d)
	for _, op := range ops {
		b.s.committed(op.tally)
	}
	if d > time.Second {
		b.s.log.Warn("slow commit", "duration", d, "batch", len(ops))
	}
	for _, op := range ops {
		op.done <- nil
	}
	if b.s.dialect == DialectSQLite {
		// Let the callers just answered run before the next batch. Each
		// send above made its caller runnable on this goroutine's P, and
		// the writer, going straight on to the next batch, would keep
		// that P through its short cgo calls: the answers, ready, waited
		// for the next commit's fsync or another P. At c=32 a caller woke
		// 0.5-0.8 ms after its answer was sent. With the yield,
		// revocations per second rose by 5-8 % at c=32 and c=256, and
		// issuance by 0-3 % (docs/benchmarks.md, ninth session).
		runtime.Gosched()
	}
	return true
}

// safeRun turns a panic inside an operation into an error, so that one bad
// operation cannot take the writer, and every waiting caller, down with it.
func safeRun(fn func(tx *gorm.DB) error, tx *gorm.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("models: write panicked: %v", r)
		}
	}()
	return fn(tx)
}

// exec runs one of the hot statements on tx's connection, bypassing gorm's
// callback chain: the hot paths (revocation, issuance) run a few fixed
// statements, and gorm's per-call overhead was most of their cost. On
// SQLite each statement is prepared once on the writer connection and run
// through the driver directly (see hotWriter); one that is not (a query
// missing from hotStatements) is an error under test, and in production
// runs unprepared with a warning, once.
func (s *Store) exec(tx *gorm.DB, query string, args ...any) (int64, error) {
	res, err := s.execHot(connOf(tx), query, args)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// execHot runs a hot statement that returns no rows on the writer's
// transaction conn: through hotWriter when it is prepared there, else
// through conn (see unprepared). sql.Result and driver.Result have the
// same methods.
func (s *Store) execHot(conn gorm.ConnPool, query string, args []any) (driver.Result, error) {
	if st := s.hw.stmt(conn, query); st != nil {
		return s.hw.exec(st, args)
	}
	if err := s.unprepared(conn, query); err != nil {
		return nil, err
	}
	return conn.ExecContext(context.Background(), s.rebind(query), args...)
}

// unprepared is what a hot statement that has no prepared statement for
// conn meets: nothing on PostgreSQL, where the pool prepares statements
// itself; on SQLite an error under test, and a warning, once, in
// production.
func (s *Store) unprepared(conn gorm.ConnPool, query string) error {
	if s.dialect != DialectSQLite {
		return nil
	}
	if testing.Testing() {
		_, isTx := conn.(*sql.Tx)
		return fmt.Errorf("models: hot statement not prepared (in a transaction: %v): %.80s", isTx, query)
	}
	if _, warned := s.warnedUnprepared.LoadOrStore(query, true); !warned {
		s.log.Warn("hot statement not prepared; running it unprepared", "query", query)
	}
	return nil
}

// connOf is the connection a write's transaction runs on: the *sql.Tx that
// gorm began (on PostgreSQL unwrapped from gorm's prepared-statement
// wrapper: see pgTx). It is the one place models reaches below gorm's
// builder inside a write.
func connOf(tx *gorm.DB) gorm.ConnPool { return pgTx(tx.Statement.ConnPool) }

// readRow runs a hot read on the reader pool, prepared once there (see
// prepareHot). An index lookup of microseconds: not worth the driver's
// per-row cancellation watcher that a cancelable context costs, so ctx's
// cancellation is not passed on.
func (s *Store) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = context.WithoutCancel(ctx)
	q := s.rebind(query)
	if st := s.readStmts.get(q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.rdb.QueryRowContext(ctx, q, args...)
}

// stmtCache holds the hot reads, prepared on the reader pool once the
// schema exists (prepareHot). It is filled before the first request and
// read-only afterwards.
type stmtCache struct {
	m map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB, queries []string) (*stmtCache, error) {
	c := &stmtCache{m: map[string]*sql.Stmt{}}
	for _, q := range queries {
		st, err := db.Prepare(q)
		if err != nil {
			c.close()
			return nil, err
		}
		c.m[q] = st
	}
	return c, nil
}

func (c *stmtCache) get(q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	return c.m[q]
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	for _, st := range c.m {
		st.Close()
	}
	c.m = map[string]*sql.Stmt{}
}

// rebind turns ? placeholders into PostgreSQL's $1, $2, …
func (s *Store) rebind(q string) string {
	if s.dialect != DialectPostgres {
		return q
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// The hot statements: issuance and revocation. They are prepared once on
// the SQLite writer connection (see hotWriter).
const (
	qInsertGrant = "INSERT INTO grants (client_id, user_id, grant_type, scope, created_at, expires_at, public_id, issued_addr, issued_ua) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
	qInsertToken = "INSERT INTO tokens (hash, type, hint, grant_id, client_id, user_id, scope, parent_id, created_at, expires_at) " +
		"VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	qInsertAudit = "INSERT INTO audit_events (" + auditColumnsInsert + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	qAuditCount  = "UPDATE audit_events SET count = count + ? WHERE id = ?"
)

var hotStatements = slices.Concat([]string{qInsertGrant, qInsertToken, qInsertAudit, qAuditCount, qInsertEvent, qAddCount, qRotateAccess},
	revokeStatements, revokeByIDStatements, outboxStatements, auditStatements)

// hotReads are the reads every request makes, in the store's dialect,
// prepared on the reader pool.
func (s *Store) hotReads() []string {
	return []string{s.inDialect(qTokenGrant), s.inDialect(qActiveToken), qClientByClientID}
}

// insertID runs one of the hot INSERTs and returns the new row's id.
func (s *Store) insertID(tx *gorm.DB, query string, args ...any) (int64, error) {
	conn := connOf(tx)
	if s.dialect == DialectPostgres {
		var id int64
		err := conn.QueryRowContext(context.Background(), s.rebind(query)+" RETURNING id", args...).Scan(&id)
		return id, err
	}
	res, err := s.execHot(conn, query, args)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// create inserts a row inside a write. The writer may run a closure twice
// (see run); the row must not carry the id a rolled-back first run gave it.
func create(tx *gorm.DB, row any) error {
	if v := reflect.ValueOf(row); v.Kind() == reflect.Pointer {
		if id := v.Elem().FieldByName("ID"); id.IsValid() && id.CanSet() && id.Kind() == reflect.Int64 {
			id.SetInt(0)
		}
	}
	return tx.Create(row).Error
}
