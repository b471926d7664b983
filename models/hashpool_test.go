package models

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestHashPoolBounded: password checks wait for a slot on the bounded
// hashing pool; when it stays full they give up with ErrBusy (the login
// page and the password grant answer 503 with Retry-After), and a caller
// that goes away stops waiting. Not parallel: it fills the shared pool.
func TestHashPoolBounded(t *testing.T) {
	saved := hashWait
	hashWait = 50 * time.Millisecond
	t.Cleanup(func() { hashWait = saved })
	for range cap(hashPool) {
		hashPool <- struct{}{}
	}
	drained := false
	drain := func() {
		if !drained {
			for range cap(hashPool) {
				<-hashPool
			}
			drained = true
		}
	}
	t.Cleanup(drain)

	start := time.Now()
	if _, err := passwordMatches(t.Context(), "", "guess"); !errors.Is(err, ErrBusy) {
		t.Fatalf("full pool: got %v, want ErrBusy", err)
	}
	if waited := time.Since(start); waited < hashWait || waited > 2*time.Second {
		t.Errorf("waited %v for a slot, want about %v", waited, hashWait)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := passwordMatches(ctx, "", "guess"); !errors.Is(err, context.Canceled) {
		t.Errorf("caller gone: got %v, want context.Canceled", err)
	}
	drain()
	if _, err := passwordMatches(t.Context(), "", "guess"); err != nil {
		t.Errorf("free pool: %v", err)
	}
}
