package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// hotWriter runs the writer's hot statements (hotStatements: issuance,
// revocation, the audit events, the counts) on SQLite through the driver
// directly, as the hot readers run theirs: each statement is prepared once
// on the writer's one driver connection and called with the batch's
// arguments, without database/sql between.
//
// Through database/sql each call bound the cached statement to the
// batch's transaction (Tx.StmtContext: a new Stmt, its locks and its
// dependency records), copied the arguments into a new []NamedValue,
// checked them one at a time, and boxed the result. In the revocation
// phase at c=32 that was about a tenth of the writer goroutine's CPU,
// and its allocations were the largest single source of garbage at c=256
// (database/sql.driverArgsConnLocked: about 0.7 KiB a revocation, 0.9 KiB an
// issuance; docs/benchmarks.md, tenth session).
//
// The batch's transaction is still database/sql's: beginWrite pins the
// writer connection with DB.Conn, asks it (Conn.Raw) which driver
// connection it is, and begins the transaction on it. A statement here is
// used only while that transaction is the one running (tx), from the
// writer goroutine, between database/sql's own calls on the connection, so
// the connection is never used by two callers at once (SQLite runs without
// its mutexes: see sqlite_config.go). Two things keep that true, and a
// change must keep them: the batch's transaction has a context that never
// ends (database/sql would otherwise roll it back and close the
// connection from its own goroutine, at any moment), and a write's
// closure uses its tx from the writer goroutine only. Should database/sql
// ever replace the writer connection (a transaction outside the batcher,
// such as the readiness probe's, whose context ends), attach prepares the
// statements again on the new one before they are used, and finalizes the
// old ones.
type hotWriter struct {
	dc    any // the driver connection the statements are prepared on
	stmts map[string]driver.Stmt
	// tx is the batch transaction running on dc, nil between batches: a
	// statement is used only for that transaction's queries.
	tx      atomic.Pointer[sql.Tx]
	queries []string
	args    []driver.NamedValue // reused from call to call: one writer
}

func newHotWriter(queries []string) *hotWriter {
	return &hotWriter{queries: queries, stmts: map[string]driver.Stmt{}}
}

// attach makes the statements ready on dc, the writer's driver connection,
// preparing them on it if it is not the one they were prepared on. It runs
// inside Conn.Raw, which holds the connection.
func (h *hotWriter) attach(dc any) error {
	if dc == h.dc {
		return nil
	}
	pc, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return fmt.Errorf("models: writer connection %T cannot prepare", dc)
	}
	// The old connection is closed (database/sql let it go): its
	// statements cannot run, and finalizing them frees it.
	h.releaseStmts()
	for _, q := range h.queries {
		st, err := pc.PrepareContext(context.Background(), q)
		if err != nil {
			h.releaseStmts()
			return fmt.Errorf("models: prepare hot statement: %w", err)
		}
		h.stmts[q] = st
	}
	h.dc = dc
	return nil
}

// releaseStmts closes the statements, on their connection whether it is
// still open or database/sql has closed it (see closeDriverStmt).
func (h *hotWriter) releaseStmts() {
	for q, st := range h.stmts {
		closeDriverStmt(st)
		delete(h.stmts, q)
	}
	h.dc = nil
}

// close releases the statements, holding the writer connection so that
// nothing else uses it meanwhile. The batcher must have stopped.
func (h *hotWriter) close(wdb *sql.DB) {
	if h == nil || h.dc == nil {
		return
	}
	conn, err := wdb.Conn(context.Background())
	if err != nil {
		return
	}
	defer conn.Close()
	_ = conn.Raw(func(any) error {
		h.releaseStmts()
		return nil
	})
}

// stmt returns query's statement when conn is the running batch's
// transaction, nil otherwise (PostgreSQL, or a statement not in
// hotStatements). No write's closure commits or rolls back the batch's
// transaction itself; one that did would have its later hot statements
// run outside any transaction.
func (h *hotWriter) stmt(conn gorm.ConnPool, query string) driver.Stmt {
	if h == nil {
		return nil
	}
	if tx, ok := conn.(*sql.Tx); !ok || tx != h.tx.Load() {
		return nil
	}
	return h.stmts[query]
}

// bind converts args as database/sql would for a driver with no
// converters of its own (mattn's has none) into the reused argument list,
// and refuses a count that is not the statement's, as database/sql does
// (SQLite itself would bind the missing ones as NULL).
func (h *hotWriter) bind(st driver.Stmt, args []any) ([]driver.NamedValue, error) {
	if n := st.NumInput(); n >= 0 && n != len(args) {
		return nil, fmt.Errorf("models: hot statement: expected %d arguments, got %d", n, len(args))
	}
	nv := h.args[:0]
	for i, a := range args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			clear(nv)
			return nil, fmt.Errorf("models: hot statement: argument %d: %w", i+1, err)
		}
		nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	h.args = nv
	return nv, nil
}

func (h *hotWriter) exec(st driver.Stmt, args []any) (driver.Result, error) {
	nv, err := h.bind(st, args)
	if err != nil {
		return nil, err
	}
	defer clear(nv) // the reused list must not keep the batch's strings alive
	return st.(driver.StmtExecContext).ExecContext(context.Background(), nv)
}

func (h *hotWriter) query(st driver.Stmt, args []any) (rowSource, error) {
	nv, err := h.bind(st, args)
	if err != nil {
		return nil, err
	}
	defer clear(nv)
	rows, err := st.(driver.StmtQueryContext).QueryContext(context.Background(), nv)
	if err != nil {
		return nil, err
	}
	return &driverRows{rows: rows, row: make([]driver.Value, len(rows.Columns()))}, nil
}

// rowSource is what the hot statements' RETURNING rows are read through:
// *sql.Rows, or driverRows on the SQLite writer.
type rowSource interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close() error
}

// driverRows reads a driver's rows with the few Scan destinations the hot
// statements' readers use: *int64, *string and *any.
type driverRows struct {
	rows driver.Rows
	row  []driver.Value
	err  error
	done bool
}

func (r *driverRows) Next() bool {
	if r.done {
		return false
	}
	if err := r.rows.Next(r.row); err != nil {
		r.done = true
		if !errors.Is(err, io.EOF) {
			r.err = err
		}
		return false
	}
	return true
}

func (r *driverRows) Scan(dest ...any) error {
	if len(dest) != len(r.row) {
		return fmt.Errorf("models: scan: %d destinations for %d columns", len(dest), len(r.row))
	}
	for i, d := range dest {
		v := r.row[i]
		switch d := d.(type) {
		case *any:
			if b, ok := v.([]byte); ok {
				v = append([]byte(nil), b...)
			}
			*d = v
		case *int64:
			n, ok := v.(int64)
			if !ok {
				return fmt.Errorf("models: scan column %d: %T into int64", i+1, v)
			}
			*d = n
		case *string:
			switch v := v.(type) {
			case string:
				*d = v
			case []byte:
				*d = string(v)
			case time.Time:
				// As database/sql's Scan does for a time into a string.
				*d = v.Format(time.RFC3339Nano)
			default:
				return fmt.Errorf("models: scan column %d: %T into string", i+1, v)
			}
		default:
			return fmt.Errorf("models: scan column %d: unsupported destination %T", i+1, d)
		}
	}
	return nil
}

func (r *driverRows) Err() error { return r.err }

func (r *driverRows) Close() error {
	clear(r.row)
	r.done = true
	return r.rows.Close()
}

// beginWrite begins a batch's transaction on the writer. On SQLite with the
// hot statements prepared it pins the writer connection and attaches them
// to it (see hotWriter). end must run once the batch is over; it rolls
// back a transaction still open (a panic outside the write's closures
// leaves one: the connection then goes back to the pool rather than
// holding every later write), and may run more than once.
func (s *Store) beginWrite() (tx *gorm.DB, end func(), err error) {
	ctx := context.Background()
	if s.hw == nil {
		tx = s.w.Session(&gorm.Session{NewDB: true, Context: ctx}).Begin()
		return tx, func() {}, tx.Error
	}
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := conn.Raw(s.hw.attach); err != nil {
		conn.Close()
		return nil, nil, err
	}
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	// What gorm's Begin does, on the pinned connection's transaction. The
	// session (its Context set) has a Statement of its own, so setting its
	// ConnPool leaves s.w's alone.
	tx = s.w.Session(&gorm.Session{NewDB: true, Context: ctx})
	tx.Statement.ConnPool = sqlTx
	s.hw.tx.Store(sqlTx)
	ended := false
	return tx, func() {
		if !ended {
			ended = true
			s.hw.tx.Store(nil)
			_ = sqlTx.Rollback() // sql.ErrTxDone once committed or rolled back
			conn.Close()
		}
	}, nil
}
