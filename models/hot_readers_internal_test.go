package models

import (
	"context"
	"errors"
	"sync"
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
	free := sync.OnceFunc(func() {
		for _, r := range busy {
			st.hot.ch <- r
		}
	})
	defer free() // the store's Close waits for every connection
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := st.ActiveToken(short, "lk_at_nobody"); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("read with every connection busy: %v, want the request's deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read still waits 5 s after its request ended at 100 ms")
	}
	free()
	if _, err := st.ActiveToken(ctx, "lk_at_nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("read with connections free: %v, want ErrNotFound", err)
	}
}
