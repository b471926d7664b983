package handlers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReadinessProbesOneAtATime: a burst of /readyz runs the database
// probe (which takes the write lock) once, and a success is reused for a
// second; a failure is not reused.
func TestReadinessProbesOneAtATime(t *testing.T) {
	var r readiness
	var probes atomic.Int32
	slow := func(context.Context) error {
		probes.Add(1)
		time.Sleep(20 * time.Millisecond)
		return nil
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if err := r.check(t.Context(), slow); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := probes.Load(); n != 1 {
		t.Errorf("50 concurrent checks ran %d probes, want 1", n)
	}

	var f readiness
	down := errors.New("down")
	calls := 0
	failing := func(context.Context) error { calls++; return down }
	for range 3 {
		if err := f.check(t.Context(), failing); !errors.Is(err, down) {
			t.Fatalf("got %v, want the probe's error", err)
		}
	}
	if calls != 3 {
		t.Errorf("a failing probe ran %d times for 3 checks, want 3 (failures are not reused)", calls)
	}
}
