package models

import (
	"context"
	"errors"
	"strings"
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
