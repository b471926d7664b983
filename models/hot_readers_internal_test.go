package models

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestActiveTokenWaitEndsWithTheRequest: while every connection kept for
// the introspection read is busy, a read waits for one, and its wait ends
// when its request's context does; once one is free, reads go on.
func TestActiveTokenWaitEndsWithTheRequest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openMigrated(t)
	if st.hot == nil || st.hot.n == 0 {
		t.Fatal("no connections kept for the introspection read")
	}
	var busy []*rawReader
	for range st.hot.n {
		busy = append(busy, <-st.hot.ch)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := st.ActiveToken(short, "lk_at_nobody")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("read with every connection busy: %v, want the request's deadline", err)
	}
	if waited := time.Since(start); waited > 3*time.Second {
		t.Errorf("the read waited %v for a request that ended after 100 ms", waited)
	}
	for _, r := range busy {
		st.hot.ch <- r
	}
	if _, err := st.ActiveToken(ctx, "lk_at_nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("read with connections free: %v, want ErrNotFound", err)
	}
}
