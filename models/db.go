package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mattn/go-sqlite3"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names the SQL database behind a Store.
type Dialect string

// The supported dialects.
const (
	DialectSQLite   Dialect = "sqlite"
	DialectPostgres Dialect = "postgres"
)

// Options tune a Store. The zero value is the production default.
type Options struct {
	// Logger receives slow-query and error logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// BusyTimeout is how long SQLite waits for a lock held by another
	// process (the CLI, a backup) before the write fails; 0 means 5 s.
	BusyTimeout time.Duration
	// MaxConns is the size of the PostgreSQL connection pool; 0 means 32.
	MaxConns int
}

// Store is Latchkey's persistence: every read and write of the data goes
// through its methods. It wraps two gorm handles: on SQLite a single writer
// connection (SQLite allows one writer; funnelling writes through one
// connection avoids SQLITE_BUSY storms) and a pool of read-only readers; on
// PostgreSQL both are the same pool.
type Store struct {
	w *gorm.DB
	r *gorm.DB
	// wdb and rdb are the database/sql pools behind w and r, taken once
	// through DB() when the store opens, for the statements that bypass
	// gorm's builder (see exec).
	wdb, rdb *sql.DB
	dialect  Dialect
	log      *slog.Logger
	now      func() time.Time
	batch    *batcher
	lastUse  *lastUseThrottle
	// hw runs the writer's hot statements on SQLite (see hotWriter).
	hw      *hotWriter
	clients clientCache
	// counters are exposed through Stats, for /metrics.
	counters counters
	// purging is held by the purge running in this process.
	purging sync.Mutex
	// audit folds repeated events (failed logins, refused revocations)
	// into one row a minute with a count.
	audit *auditCoalescer
	// readStmts are the hot reads, prepared on rdb (see prepareHot).
	readStmts *stmtCache
	// hot are the SQLite readers kept for the reads of every introspection
	// and every revocation at the endpoint (nil on PostgreSQL).
	hot  *hotReaders
	hotN int
	// queued wakes the event delivery when a commit queued events.
	queued broadcast
	// claims are the streams this process delivers now (SQLite).
	claims streamClaims
	// jti is the database's event jti prefix, read once (see jtiPrefix).
	jti jtiPrefixCache
	// warnedUnprepared remembers the hot statements already warned about.
	warnedUnprepared sync.Map
	// ckpt runs the WAL checkpoints (SQLite; see checkpoint.go).
	ckpt *checkpointer
}

// Open connects to dsn — a SQLite file path (optionally "file:" URI) or a
// postgres:// URL — and returns a Store. It does not migrate; call Migrate.
func Open(dsn string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{log: opts.Logger, now: opts.Now, lastUse: newLastUseThrottle(), audit: newAuditCoalescer()}
	cfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		PrepareStmt:            true,
		NowFunc:                func() time.Time { return opts.Now().UTC() },
	}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		s.dialect = DialectPostgres
		s.w, err = gorm.Open(postgres.Open(dsn), cfg)
		if err != nil {
			return nil, fmt.Errorf("models: open postgres: %w", redactErr(err, dsn))
		}
		sqlDB, err := s.w.DB()
		if err != nil {
			return nil, fmt.Errorf("models: open postgres: %w", err)
		}
		if opts.MaxConns <= 0 {
			opts.MaxConns = 32
		}
		sqlDB.SetMaxOpenConns(opts.MaxConns)
		sqlDB.SetMaxIdleConns(opts.MaxConns)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		s.r = s.w
		s.wdb, s.rdb = sqlDB, sqlDB
	} else {
		s.dialect = DialectSQLite
		path := strings.TrimPrefix(dsn, "file:")
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if path == "" || path == ":memory:" {
			return nil, errors.New("models: a SQLite database must be a file")
		}
		heapOnce.Do(func() { heapKept = keepFreedHeap() })
		if err := privateFiles(path, opts.Logger); err != nil {
			return nil, fmt.Errorf("models: open %s: %w", path, err)
		}
		// synchronous=FULL in WAL mode: a commit is fsynced before it returns,
		// so an answered revocation survives a crash.
		// _txlock=immediate takes the write lock at BEGIN, so a transaction
		// never fails half-way with SQLITE_BUSY on lock upgrade.
		q := url.Values{}
		q.Set("_journal_mode", "WAL")
		q.Set("_synchronous", "FULL")
		q.Set("_foreign_keys", "on")
		busy := opts.BusyTimeout
		if busy <= 0 {
			busy = 5 * time.Second
		}
		q.Set("_busy_timeout", strconv.FormatInt(busy.Milliseconds(), 10))
		q.Set("_txlock", "immediate")
		// Every SQLite connection is opened without its own mutex (SQLite's
		// multi-thread mode; see sqlite_config.go).
		q.Set("_mutex", "no")
		q.Set("_cache_size", writerCacheSize)
		// The writer runs its hot statements prepared once on its
		// connection (see hotWriter); gorm's statement cache would prepare
		// them again in every transaction.
		wcfg := *cfg
		wcfg.PrepareStmt = false
		s.w, err = gorm.Open(sqlite.New(sqlite.Config{DriverName: sqliteWriterDriver, DSN: "file:" + path + "?" + q.Encode()}), &wcfg)
		if err != nil {
			return nil, fmt.Errorf("models: open %s: %w", path, err)
		}
		wdb, err := s.w.DB()
		if err != nil {
			return nil, fmt.Errorf("models: open %s: %w", path, err)
		}
		wdb.SetMaxOpenConns(1)
		wdb.SetMaxIdleConns(1)
		wdb.SetConnMaxLifetime(0)
		// Make sure the file exists and is in WAL mode before readers open it.
		if err := wdb.Ping(); err != nil {
			return nil, fmt.Errorf("models: open %s: %w", path, err)
		}
		// Tables may not exist yet (Migrate runs later); prepare the hot
		// statements lazily on first Migrate instead.
		rq := url.Values{}
		rq.Set("_foreign_keys", "on")
		rq.Set("_busy_timeout", "5000")
		rq.Set("_query_only", "1")
		rq.Set("_mutex", "no")
		rq.Set("_cache_size", readerCacheSize)
		s.r, err = gorm.Open(sqlite.New(sqlite.Config{DriverName: sqliteDriver, DSN: "file:" + path + "?" + rq.Encode()}), cfg)
		if err != nil {
			return nil, fmt.Errorf("models: open %s: %w", path, err)
		}
		rdb, err := s.r.DB()
		if err != nil {
			return nil, fmt.Errorf("models: open %s: %w", path, err)
		}
		// n kept for the reads of every introspection and every revocation
		// at the endpoint (see hotReaders; taken once the schema exists, in
		// prepareHot), and n/2 for every other read: with introspection off
		// the pool needs fewer, and each connection holds a page cache. At
		// 256 connections the peak RSS was 2-3 MB lower with 2 than with 4
		// and the throughput the same (docs/benchmarks.md, "Memory").
		n := max(4, 2*runtime.GOMAXPROCS(0))
		rdb.SetMaxOpenConns(n + n/2)
		rdb.SetMaxIdleConns(n + n/2)
		s.hotN = n
		s.wdb, s.rdb = wdb, rdb
		if s.ckpt, err = newCheckpointer(path, wdb, opts.Logger); err != nil {
			return nil, fmt.Errorf("models: open %s: %w", path, err)
		}
	}
	s.batch = newBatcher(s)
	s.lastUse.start(s)
	s.audit.start(s)
	return s, nil
}

// privateFiles keeps the SQLite files, which hold password hashes, readable
// by their owner only. A new database file is created empty with mode 0600
// before SQLite opens it: SQLite then creates the -wal and -shm files with
// the database file's own permissions, so they are 0600 too, whatever the
// umask. An existing file (or -wal, -shm) that group or others can read is
// changed to 0600, with a warning; when that is not allowed (another user
// owns it), only the warning is logged and the server still starts.
func privateFiles(path string, log *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return err
		}
		return os.Chmod(path, 0o600) // in case the umask took bits away
	case !errors.Is(err, fs.ErrExist):
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, 0o600); err != nil {
			log.Warn("database file is readable by other users and its mode cannot be changed; make it 0600",
				"path", p, "mode", fi.Mode().Perm().String(), "err", err)
			continue
		}
		log.Warn("database file was readable by other users; changed its mode to 0600",
			"path", p, "was", fi.Mode().Perm().String())
	}
	return nil
}

// The SQLite page caches, in KiB (a negative cache_size). Each connection
// has its own: the writer, and each reader of the pool. The operating
// system's page cache holds the database file anyway, so a page missing
// here costs a pread of a page in memory, about a microsecond, not a disk
// read.
//
// A million tokens make indexes of 45 MB or more, and an introspection
// looks up a random leaf of each, so a page cache of any affordable size
// misses on the leaves anyway; what it must keep is the interior pages of
// the trees, a few hundred. With 32 MB per connection (the writer and four
// readers) the server's peak RSS was 125–140 MB under load at 10^6 tokens;
// with 1 MB a reader it was about 60 MB over 60 s at 256 clients, and with
// 500 KiB about 2 MB less, with the CPU per introspection no higher either time
// (BenchmarkActiveToken, and the server's CPU time per request under
// latchkey bench --target; docs/benchmarks.md has the figures). The writer
// keeps more: a group commit of 256 writes dirties a few pages each, and
// pages that do not fit are written to the WAL before the commit (more
// writes, the same durability).
const (
	writerCacheSize = "-4000"
	readerCacheSize = "-500"
)

// heapOnce applies the C heap's settings for SQLite (keepFreedHeap) when
// the first SQLite store opens; heapKept is whether they were applied.
var (
	heapOnce sync.Once
	heapKept bool
)

// sqliteDriver is mattn's driver registered under Latchkey's own name, so
// that connection-level settings have one place to live. (Memory-mapped
// I/O was measured and left off: it made indexed reads slower here.)
const sqliteDriver = "latchkey_sqlite3"

func init() {
	sql.Register(sqliteDriver, &sqlite3.SQLiteDriver{})
}

// redactErr keeps a postgres password out of error messages.
func redactErr(err error, dsn string) error {
	u, perr := url.Parse(dsn)
	if perr != nil || u.User == nil {
		return err
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
	}
	return err
}

// Dialect reports which database the Store talks to.
func (s *Store) Dialect() Dialect { return s.dialect }

// Now returns the Store's clock reading in UTC, truncated to microseconds
// (PostgreSQL's precision), so values round-trip exactly.
func (s *Store) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Close stops the write batcher and closes the connections.
func (s *Store) Close() error {
	s.lastUse.stop()
	s.audit.stop()
	s.batch.close()
	s.ckpt.stop()
	s.hw.close(s.wdb)
	s.readStmts.close()
	s.hot.close()
	errs := []error{s.wdb.Close()}
	if s.rdb != s.wdb {
		errs = append(errs, s.rdb.Close())
	}
	s.ckpt.closeFile()
	return errors.Join(errs...)
}

// Ping checks that the database answers a read.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.WithContext(ctx).Raw("SELECT 1").Scan(&one).Error; err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// Ready checks that the database answers reads and that a write can be made
// now, for /readyz and for serve at startup. The write is a probe row that
// is inserted into schema_migrations (as version 0, which no migration
// uses) and rolled back, so nothing is left behind and no reader ever sees
// it. It fails when:
//   - the database is read-only: a read-only file or file system (SQLite
//     opens such a file read-only and refuses the write with
//     SQLITE_READONLY), or a PostgreSQL hot standby or a database with
//     default_transaction_read_only;
//   - the database cannot grow (SQLite: SQLITE_FULL, when no free page is
//     left within max_page_count or the file cannot be extended): on SQLite
//     the probe row is larger than a page, so inserting it must allocate a
//     page;
//   - the write lock cannot be had within the busy timeout, or ctx ends.
//
// On SQLite the probe runs on the writer connection between the batches of
// the group-commit writer, not inside one, so its rollback never costs
// other callers their batch.
func (s *Store) Ready(ctx context.Context) error {
	if err := s.Ping(ctx); err != nil {
		return err
	}
	name := "readiness probe"
	if s.dialect == DialectSQLite {
		var pageSize int
		if err := s.w.WithContext(ctx).Raw("PRAGMA page_size").Scan(&pageSize).Error; err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		name = strings.Repeat("x", pageSize+1)
	}
	err := s.w.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (0, ?, ?)", name, s.Now()).Error; err != nil {
			return err
		}
		return errProbeDone
	})
	if !errors.Is(err, errProbeDone) {
		return fmt.Errorf("%w: cannot write: %w", ErrUnavailable, err)
	}
	return nil
}

// errProbeDone rolls the readiness probe back once its write succeeded.
var errProbeDone = errors.New("models: readiness probe done")

// hotRead names one of the reads prepared on every hot reader connection,
// in the order of the queries given to openHotReaders.
type hotRead int

const (
	hotActiveToken hotRead = iota // qActiveToken: every introspection
	hotTokenGrant                 // qTokenGrant: every revocation at the endpoint
)

// rawReader is one SQLite reader connection with the hot reads prepared
// on it, used through the driver directly (see hotReaders).
type rawReader struct {
	conn  *sql.Conn
	stmts []driver.StmtQueryContext // by hotRead
	dest  [][]driver.Value          // by hotRead: a row's values, sized by the first row read
	args  [1]driver.NamedValue
}

// hotReaders are SQLite reader connections kept apart from the reader pool for
// the read of every introspection (ActiveToken) and of every revocation at the
// endpoint (the token's grant, before the write). They are used through the
// driver's own statements, without database/sql's pool, row and Scan
// machinery: in a profile of the server under introspection load, those took
// about a third of the read's Go time (the pool's lock and bookkeeping, a Rows
// per call, a reflective conversion per column) and a dozen allocations. A
// buffered channel hands each connection to one request at a time. They are
// the reader pool's connections, opened the same way, read-only, with the same
// small page cache; the pool grows by as many.
type hotReaders struct {
	ch   chan *rawReader
	done chan struct{} // closed by close: reads fail from then on
	n    int           // connections opened
	once sync.Once
}

// errHotReadersClosed is a read on a closed store, as database/sql's
// "database is closed".
var errHotReadersClosed = errors.New("models: the store is closed")

// openHotReaders takes n connections from rdb, whose limit must already
// allow them on top of its own, and prepares queries (by hotRead) on each.
func openHotReaders(rdb *sql.DB, queries []string, n int) (*hotReaders, error) {
	h := &hotReaders{ch: make(chan *rawReader, n), done: make(chan struct{})}
	ctx := context.Background()
	for range n {
		conn, err := rdb.Conn(ctx)
		if err != nil {
			h.close()
			return nil, err
		}
		r := &rawReader{conn: conn, dest: make([][]driver.Value, len(queries))}
		err = conn.Raw(func(dc any) error {
			for _, query := range queries {
				st, err := dc.(driver.ConnPrepareContext).PrepareContext(ctx, query)
				if err != nil {
					return err
				}
				q, ok := st.(driver.StmtQueryContext)
				if !ok {
					st.Close()
					return errors.New("models: the SQLite driver's statement has no QueryContext")
				}
				r.stmts = append(r.stmts, q)
			}
			return nil
		})
		if err != nil {
			r.closeStmts()
			conn.Close()
			h.close()
			return nil, err
		}
		h.ch <- r
		h.n++
	}
	return h, nil
}

// closeStmts closes the statements prepared on r's connection.
func (r *rawReader) closeStmts() {
	_ = r.conn.Raw(func(any) error {
		for _, st := range r.stmts {
			st.(driver.Stmt).Close()
		}
		return nil
	})
	r.stmts = nil
}

// row runs the prepared read q with one argument and passes its first row
// (the driver's values, valid until read returns) to read; found is false
// when there is no row. Waiting for a connection ends with ctx; the read
// itself, tens of microseconds, does not watch it (mattn's driver starts a
// goroutine per query to watch a context that can end).
func (h *hotReaders) row(ctx context.Context, q hotRead, arg any, read func([]driver.Value) error) (found bool, err error) {
	var r *rawReader
	select {
	case r = <-h.ch:
		// A connection is free: the usual case. Asking for ctx.Done()
		// makes the request's context allocate its channel, so the wait
		// below is only for when all are busy.
	default:
		select {
		case <-h.done:
			return false, errHotReadersClosed
		case <-ctx.Done():
			return false, ctx.Err()
		case r = <-h.ch:
		}
	}
	defer func() { h.ch <- r }()
	err = r.conn.Raw(func(any) (err error) {
		// A panic in read must not leave Raw: database/sql would close
		// the connection, and this reader would fail every later read.
		defer func() {
			if p := recover(); p != nil {
				found, err = false, fmt.Errorf("models: hot read panicked: %v\n%s", p, debug.Stack())
			}
		}()
		r.args[0] = driver.NamedValue{Ordinal: 1, Value: arg}
		rows, err := r.stmts[q].QueryContext(context.Background(), r.args[:])
		if err != nil {
			return err
		}
		defer rows.Close()
		if n := len(rows.Columns()); len(r.dest[q]) != n {
			r.dest[q] = make([]driver.Value, n) // once per connection and read
		}
		dest := r.dest[q]
		switch err := rows.Next(dest); {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
		found = true
		return read(dest)
	})
	return found, err
}

// close makes later reads fail, waits for the reads under way, closes the
// statements and gives the connections back to the pool, which closes
// them.
func (h *hotReaders) close() {
	if h == nil {
		return
	}
	h.once.Do(func() {
		close(h.done)
		for range h.n {
			r := <-h.ch
			r.closeStmts()
			r.conn.Close()
		}
	})
}
