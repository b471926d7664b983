package models

import (
	"database/sql"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-sqlite3"
)

// Checkpoints of the SQLite write-ahead log.
//
// By default SQLite checkpoints inside a commit: the commit that takes the
// WAL past 1,000 pages copies them all into the database file and fsyncs
// it before it returns, and every write waiting behind it in the group
// commit waits too. That is the stall seen in issuance's tail (a p99 fifty
// times the median). Here the writer connection never checkpoints on its
// own (wal_autocheckpoint=0, set on every connection the writer driver
// opens) and a checkpointer with a connection of its own does the work:
//
//   - every checkpointEvery it runs a PASSIVE checkpoint, which copies
//     whatever frames no reader still needs without taking the write lock,
//     so commits go on meanwhile;
//   - SQLite fsyncs the database file only in a checkpoint that copies the
//     whole log, and under sustained writes the background one never does
//     (a commit lands during its copy). The pages it copies would then stay
//     dirty in the page cache until the checkpoint that completes, which
//     would have to write them all out: 30-40 ms for 16 MiB of scattered
//     pages. So after each copy the checkpointer fsyncs the database file
//     itself, through a descriptor of its own, while commits go on;
//   - a passive checkpoint alone can fall behind under sustained writes:
//     the log restarts from its beginning only when a writer begins while
//     every frame has been copied, and a commit nearly always lands during
//     the copy. When the log passes walFinishFrames, the writer therefore
//     finishes the checkpoint between two batches (the residue: the frames
//     of the last few commits, and an fsync of the database file that has
//     only those pages left to write), and its next transaction restarts
//     the log. That bounds the WAL;
//   - when nothing has been written for checkpointIdle, a TRUNCATE
//     checkpoint empties the WAL file.
//
// Durability is unchanged: commits still fsync the WAL (synchronous=FULL),
// and checkpoints fsync the database file before the WAL is reused.
const (
	checkpointEvery = 100 * time.Millisecond
	checkpointIdle  = time.Second
	// walFinishFrames is 16 MiB of WAL at the default 4 KiB page size.
	walFinishFrames = 4096
	// walSizeLimit is journal_size_limit: a WAL file that grew past it is
	// cut back to it when the log restarts.
	walSizeLimit = 64 << 20
)

// sqliteWriterDriver opens the writer connection: as sqliteDriver, with
// automatic checkpoints off (the checkpointer runs them).
const sqliteWriterDriver = "latchkey_sqlite3_writer"

func init() {
	sql.Register(sqliteWriterDriver, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		if _, err := c.Exec("PRAGMA wal_autocheckpoint=0", nil); err != nil {
			return err
		}
		_, err := c.Exec("PRAGMA journal_size_limit="+strconv.Itoa(walSizeLimit), nil)
		return err
	}})
}

// CheckpointStats counts the checkpoints this store ran.
type CheckpointStats struct {
	// Passive counts the checkpointer's PASSIVE checkpoints, Synced its
	// fsyncs of the database file after them, Finished the checkpoints the
	// writer ran between batches to let the log restart, and Truncated the
	// TRUNCATE checkpoints that emptied an idle WAL.
	Passive, Synced, Finished, Truncated int64
	// FinishMax is the longest the writer spent finishing a checkpoint:
	// the time every write queued behind it waited.
	FinishMax time.Duration
	// MaxFrames is the largest WAL, in pages, a checkpoint has seen.
	MaxFrames int64
}

// checkpointer runs the SQLite store's checkpoints (see above).
type checkpointer struct {
	db  *sql.DB
	wdb *sql.DB
	// file is the database file, opened only to fsync it. It stays open
	// until the store's connections are closed: closing a descriptor drops
	// every POSIX lock the process holds on the file, SQLite's included.
	file *os.File
	log  *slog.Logger
	quit chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	// finish asks the writer to finish the checkpoint between batches.
	finish                               atomic.Bool
	passive, synced, finished, truncated atomic.Int64
	maxFrames, finishMax                 atomic.Int64
	warned                               bool
}

// newCheckpointer opens the checkpointer's connection to path and starts
// it. wdb is the writer's pool, for the checkpoint the writer finishes.
func newCheckpointer(path string, wdb *sql.DB, log *slog.Logger) (*checkpointer, error) {
	q := url.Values{}
	q.Set("_synchronous", "FULL") // a checkpoint fsyncs the database file before the WAL is reused
	q.Set("_busy_timeout", "100") // TRUNCATE waits this long for readers, then tries again later
	q.Set("_mutex", "no")
	db, err := sql.Open(sqliteDriver, "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	c := &checkpointer{db: db, wdb: wdb, log: log, quit: make(chan struct{})}
	if f, err := os.OpenFile(path, os.O_RDWR, 0); err == nil {
		c.file = f
	}
	c.wg.Add(1)
	go c.loop()
	return c, nil
}

func (c *checkpointer) stop() {
	if c == nil {
		return
	}
	c.once.Do(func() {
		close(c.quit)
		c.wg.Wait()
		c.db.Close()
	})
}

// closeFile closes the descriptor used to fsync the database file. The
// store calls it after its SQLite connections are closed.
func (c *checkpointer) closeFile() {
	if c != nil && c.file != nil {
		c.file.Close()
		c.file = nil
	}
}

func (c *checkpointer) loop() {
	defer c.wg.Done()
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var lastLog, lastDone int64 = -1, 0
	var quietSince time.Time
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
		}
		busy, logFrames, done, err := c.copy(lastDone)
		if err != nil {
			continue
		}
		if logFrames > walFinishFrames {
			// A second pass copies and writes out what was committed
			// during the first, so the writer is left with only the
			// frames of the last few milliseconds.
			if b, l, d, err := c.copy(done); err == nil {
				busy, logFrames, done = b, l, d
			}
			c.finish.Store(true)
		}
		lastDone = done
		// Idle: every frame copied and nothing written since the last tick.
		if busy != 0 || logFrames == 0 || logFrames != done || logFrames != lastLog {
			lastLog, quietSince = logFrames, time.Now()
			continue
		}
		if time.Since(quietSince) >= checkpointIdle {
			if busy, _, _, err := c.run(c.db, "TRUNCATE"); err == nil && busy == 0 {
				c.truncated.Add(1)
				lastLog = 0
			}
			quietSince = time.Now()
		}
	}
}

// copy runs a PASSIVE checkpoint and then fsyncs the database file if it
// copied anything (prev is how many frames were copied before), so the
// pages it wrote are on disk before the writer is asked to finish.
func (c *checkpointer) copy(prev int64) (busy, logFrames, done int64, err error) {
	busy, logFrames, done, err = c.run(c.db, "PASSIVE")
	if err != nil {
		return
	}
	c.passive.Add(1)
	if done > 0 && done != prev && c.file != nil {
		if err := c.file.Sync(); err == nil {
			c.synced.Add(1)
		} else if !c.warned {
			c.warned = true
			c.log.Warn("fsync of the database file failed", "err", err)
		}
	}
	return
}

// run runs one checkpoint on db and returns SQLite's answer: whether it
// was blocked, the WAL's size in frames and how many of them are in the
// database file now.
func (c *checkpointer) run(db *sql.DB, mode string) (busy, logFrames, done int64, err error) {
	err = db.QueryRow("PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &logFrames, &done)
	if err != nil {
		if !c.warned {
			c.warned = true
			c.log.Warn("WAL checkpoint failed; the WAL may grow until one succeeds", "mode", mode, "err", err)
		}
		return 0, 0, 0, err
	}
	for {
		m := c.maxFrames.Load()
		if logFrames <= m || c.maxFrames.CompareAndSwap(m, logFrames) {
			break
		}
	}
	return busy, logFrames, done, nil
}

// afterBatch runs on the writer goroutine between batches: when the WAL is
// large, the writer copies the residue the checkpointer has not, so that
// its next transaction restarts the log from the beginning.
func (c *checkpointer) afterBatch() {
	if c == nil || !c.finish.Load() {
		return
	}
	c.finish.Store(false)
	start := time.Now()
	var busy, logFrames, done int64
	err := c.wdb.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done)
	if d := int64(time.Since(start)); d > c.finishMax.Load() {
		c.finishMax.Store(d) // only the writer goroutine stores it
	}
	if err != nil {
		return // the checkpointer asks again if the WAL is still large
	}
	if busy == 0 && logFrames == done {
		c.finished.Add(1)
	}
}

// Checkpoints reports the checkpoints this store ran (zero on PostgreSQL).
func (s *Store) Checkpoints() CheckpointStats {
	c := s.ckpt
	if c == nil {
		return CheckpointStats{}
	}
	return CheckpointStats{Passive: c.passive.Load(), Synced: c.synced.Load(), Finished: c.finished.Load(),
		Truncated: c.truncated.Load(), MaxFrames: c.maxFrames.Load(), FinishMax: time.Duration(c.finishMax.Load())}
}
