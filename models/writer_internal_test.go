package models

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

// TestUnpreparedHotStatementFailsUnderTest: on SQLite the writer's hot
// statements are prepared once; one that is not would silently run
// unprepared (and slowly) in production, so under test it is an error.
func TestUnpreparedHotStatementFailsUnderTest(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	if s.Dialect() != DialectSQLite {
		t.Skip("the statement cache is SQLite's")
	}
	err := s.write(context.Background(), func(tx *gorm.DB) error {
		_, err := s.exec(tx, "UPDATE users SET role = role WHERE id = ?", 1)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "not prepared") {
		t.Fatalf("exec of an unprepared statement: got %v, want a not-prepared error", err)
	}
	// Every hot statement is prepared.
	err = s.write(context.Background(), func(tx *gorm.DB) error {
		_, err := s.exec(tx, qAuditCount, 0, 0)
		return err
	})
	if err != nil {
		t.Fatalf("a hot statement: %v", err)
	}
}

// TestWritesAfterCloseAreRefused: a write asked of a closed store is
// refused with ErrUnavailable, never left waiting. The queue has room, so
// a write can still be queued after the writer has stopped; before, such a
// write waited for an answer forever (about one call in two).
func TestWritesAfterCloseAreRefused(t *testing.T) {
	t.Parallel()
	st := openPlanStore(t)
	st.Close()
	done := make(chan error, 200)
	for range 200 {
		go func() { done <- st.write(context.Background(), func(*gorm.DB) error { return nil }) }()
	}
	deadline := time.After(10 * time.Second)
	for i := range 200 {
		select {
		case err := <-done:
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("write %d on a closed store: %v, want ErrUnavailable", i, err)
			}
		case <-deadline:
			t.Fatalf("%d of 200 writes on a closed store still wait after 10 s", 200-i)
		}
	}
}

// TestCallersRunBeforeTheNextBatch: once a group commit is durable, the
// callers it answered run before the writer starts the next batch. Before,
// the writer went straight on to the next batch, holding its P, while the
// woken callers, their answers ready, waited behind it: on one P until the
// next commit's fsync let them in. Not parallel: it runs on one P.
func TestCallersRunBeforeTheNextBatch(t *testing.T) {
	s := openPlanStore(t)
	if s.Dialect() != DialectSQLite {
		t.Skip("the group commit's yield is SQLite's")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx := context.Background()
	var mu sync.Mutex
	var order []string
	note := func(e string) {
		mu.Lock()
		defer mu.Unlock()
		order = append(order, e)
	}
	var once sync.Once
	started, release, first := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		err := s.write(ctx, func(*gorm.DB) error {
			once.Do(func() { close(started) })
			<-release
			return nil
		})
		note("first answered")
		first <- err
	}()
	<-started
	// The next batch queues while the first one's write is held.
	const next = 8
	errs := make(chan error, next)
	for range next {
		go func() { errs <- s.write(ctx, func(*gorm.DB) error { note("next batch ran"); return nil }) }()
	}
	for deadline := time.Now().Add(10 * time.Second); len(s.batch.ops) < next; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d writes queued", len(s.batch.ops), next)
		}
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range next {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) == 0 || order[0] != "first answered" {
		t.Errorf("the next batch ran before the first one's caller was back: %q", order)
	}
}
