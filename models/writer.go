package models

import (
	"context"
	"fmt"
	"sync"
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
}

// batcher is group commit for SQLite. SQLite has one writer and, with
// synchronous=FULL, every commit costs an fsync. Rather than weaken
// durability, concurrent writers share a transaction: one goroutine takes
// every operation waiting, runs each inside its own savepoint (so one
// failing operation rolls back alone), commits once, and only then answers
// them all. A caller's answer therefore always follows its fsync.
type batcher struct {
	s      *Store
	ops    chan *writeOp
	quit   chan struct{}
	closed sync.Once
	wg     sync.WaitGroup
}

func newBatcher(s *Store) *batcher {
	b := &batcher{s: s, ops: make(chan *writeOp, 4*maxBatch), quit: make(chan struct{})}
	if s.dialect == DialectSQLite {
		b.wg.Add(1)
		go b.loop()
	}
	return b
}

func (b *batcher) close() {
	b.closed.Do(func() { close(b.quit) })
	b.wg.Wait()
}

// write runs fn in a transaction and returns once it is durably committed
// (or rolled back, when fn fails). fn must not keep tx.
func (s *Store) write(ctx context.Context, fn func(tx *gorm.DB) error) error {
	if s.dialect != DialectSQLite {
		return s.w.WithContext(ctx).Transaction(fn)
	}
	op := &writeOp{fn: fn, ctx: ctx, done: make(chan error, 1)}
	select {
	case s.batch.ops <- op:
	case <-s.batch.quit:
		return fmt.Errorf("%w: store is closed", ErrUnavailable)
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued, wait for the answer even if ctx ends: the operation may
	// already be committed, and the caller must not report otherwise.
	return <-op.done
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
	}
}

// run executes a batch in one transaction.
func (b *batcher) run(batch []*writeOp) {
	results := make([]error, len(batch))
	tx := b.s.w.Session(&gorm.Session{NewDB: true, Context: context.Background()}).Begin()
	if tx.Error != nil {
		for _, op := range batch {
			op.done <- tx.Error
		}
		return
	}
	for i, op := range batch {
		if err := op.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if len(batch) == 1 {
			results[i] = safeRun(op.fn, tx)
			continue
		}
		if err := tx.SavePoint("op").Error; err != nil {
			results[i] = err
			continue
		}
		if err := safeRun(op.fn, tx); err != nil {
			results[i] = err
			if rerr := tx.RollbackTo("op").Error; rerr != nil {
				// The transaction is broken: fail the whole batch.
				tx.Rollback()
				for _, op := range batch {
					op.done <- rerr
				}
				return
			}
			continue
		}
		if err := tx.Exec("RELEASE SAVEPOINT op").Error; err != nil {
			results[i] = err
		}
	}
	if len(batch) == 1 && results[0] != nil {
		tx.Rollback()
		batch[0].done <- results[0]
		return
	}
	start := time.Now()
	if err := tx.Commit().Error; err != nil {
		for _, op := range batch {
			op.done <- fmt.Errorf("%w: commit: %w", ErrUnavailable, err)
		}
		return
	}
	if d := time.Since(start); d > time.Second {
		b.s.log.Warn("slow commit", "duration", d, "batch", len(batch))
	}
	for i, op := range batch {
		op.done <- results[i]
	}
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
