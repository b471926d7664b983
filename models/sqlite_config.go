package models

/*
// From SQLite's own header: mattn/go-sqlite3 compiles SQLite into the
// binary, and these resolve at link time.
typedef struct sqlite3 sqlite3;
int sqlite3_config(int, ...);
long long sqlite3_memory_used(void);
void *sqlite3_db_mutex(sqlite3 *);

// latchkey_sqlite_memstatus_off turns SQLite's memory statistics off
// (SQLITE_CONFIG_MEMSTATUS is 9). It returns SQLite's result code: 0 when
// applied, SQLITE_MISUSE when SQLite has already initialized.
static int latchkey_sqlite_memstatus_off(void) { return sqlite3_config(9, 0); }

int sqlite3_initialize(void);

static int latchkey_sqlite_has_mutex(void *db) { return sqlite3_db_mutex((sqlite3 *)db) != 0; }

typedef struct sqlite3_stmt sqlite3_stmt;
int sqlite3_finalize(sqlite3_stmt *);

static void latchkey_sqlite_finalize(void *stmt) { sqlite3_finalize((sqlite3_stmt *)stmt); }
*/
import "C"

import (
	"database/sql/driver"
	"errors"
	"reflect"

	"github.com/mattn/go-sqlite3"
)

// SQLite runs here without the locks it takes for callers that share a
// connection between threads, because none does: database/sql makes every
// driver call under the connection's own lock and hands a connection to
// one goroutine at a time, the writer and the checkpointer have one each,
// and the hot readers are handed out one request at a time. One thing
// would break this: a driver statement dropped without Close while its
// connection is back in use, since mattn's driver finalizes such a
// statement from the garbage collector's goroutine. Every driver
// statement is closed: by database/sql, or by the hot readers'
// closeStmts.
//
//   - Each connection opens with _mutex=no (SQLITE_OPEN_NOMUTEX, SQLite's
//     multi-thread mode). In its default serialized mode SQLite enters the
//     connection's mutex in every call: each bind, step and column read.
//   - Memory statistics are off (SQLITE_CONFIG_MEMSTATUS). With them on,
//     every sqlite3_malloc and sqlite3_free enters one mutex for the whole
//     process, to keep the count that sqlite3_memory_used reports; Latchkey
//     reads no such count. SQLite's documentation recommends this setting
//     for speed. It must be made before SQLite initializes, so it is made
//     when this package initializes, before any connection opens. It is
//     process-wide: SQLite's own heap limits would not work for anything
//     else in the process that used SQLite (nothing does).
//
// In a perf profile of BenchmarkRevoke, pthread_mutex_lock and unlock were
// 6.3 % of the process's CPU, most of it from sqlite3_free and
// sqlite3_step; after, they no longer showed (docs/benchmarks.md, eighth
// session).
//
// SQLite then initializes here, before any connection opens, rather than
// in whichever connection opens first (mattn/go-sqlite3#790 reports a
// crash from two first opens at once). Should it fail, the first open
// tries again and reports the error. Should the configuration fail (SQLite
// already initialized), sqliteStatsOff is false and the statistics stay
// on: slower, not wrong; TestSQLiteRunsWithoutItsMutexes checks it.
func init() {
	sqliteStatsOff = C.latchkey_sqlite_memstatus_off() == 0
	C.sqlite3_initialize()
}

// sqliteStatsOff is whether SQLite's memory statistics were turned off.
var sqliteStatsOff bool

// sqliteMemoryUsed is sqlite3_memory_used: always 0 with the statistics
// off.
func sqliteMemoryUsed() int64 { return int64(C.sqlite3_memory_used()) }

// sqliteConnHasMutex reports whether the SQLite connection behind c has a
// mutex of its own (serialized mode). mattn's driver keeps the handle in an
// unexported field; this reads it for the test that checks every
// connection's mode.
func sqliteConnHasMutex(c any) (bool, error) {
	conn, ok := c.(*sqlite3.SQLiteConn)
	if !ok {
		return false, errors.New("models: not a SQLite connection")
	}
	db := reflect.ValueOf(conn).Elem().FieldByName("db")
	if !db.IsValid() || db.Kind() != reflect.Pointer {
		return false, errors.New("models: the SQLite driver keeps no handle named db")
	}
	return C.latchkey_sqlite_has_mutex(db.UnsafePointer()) != 0, nil
}

// closeDriverStmt closes a statement of mattn's driver, also when
// database/sql has already closed its connection (see hotWriter.attach).
// mattn's driver closes a connection with sqlite3_close_v2, which leaves
// it a "zombie", its file descriptors open, until its last statement is
// finalized; and its statement's Close, finding the connection closed,
// does not finalize. So Close runs first (the driver then never touches
// the statement again), and if it did not finalize, the statement is
// finalized here, freeing the zombie. (The
// driver's own per-statement buffers, a few hundred bytes of C memory, are
// not freed: the driver frees them only in a Close that finalizes. It
// happens once per replaced connection, which is rare.)
func closeDriverStmt(st driver.Stmt) {
	if st.Close() == nil {
		return // finalized by the driver: its connection was open
	}
	ss, ok := st.(*sqlite3.SQLiteStmt)
	if !ok {
		return
	}
	h := reflect.ValueOf(ss).Elem().FieldByName("s")
	if !h.IsValid() || h.Kind() != reflect.Pointer || h.IsNil() {
		return
	}
	C.latchkey_sqlite_finalize(h.UnsafePointer())
}
