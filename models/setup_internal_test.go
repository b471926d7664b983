package models

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestSetupChecksTheLinkBeforeHashing: POST /setup is open to anyone, and
// a bcrypt hash is tens of milliseconds on the pool every password login
// shares. A setup with a wrong link must be refused without waiting for
// that pool, so that a flood of them cannot hold every login back; a setup
// with the right link waits for it only as long as its request lasts.
//
// Not parallel: it holds the package's hashing pool.
func TestSetupChecksTheLinkBeforeHashing(t *testing.T) {
	s := openPlanStore(t)
	ctx := context.Background()
	raw, err := s.CreateSetupToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Every slot of the pool is taken, as a flood of hashes would take it.
	for range cap(hashPool) {
		hashPool <- struct{}{}
	}
	held := true
	release := func() {
		if held {
			for range cap(hashPool) {
				<-hashPool
			}
			held = false
		}
	}
	defer release()

	done := make(chan error, 1)
	go func() {
		_, err := s.CompleteSetup(ctx, "lk_su_wrong", "root", "a long enough password", "192.0.2.1", "r1")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotFound) {
			t.Fatalf("a wrong link: %v, want ErrNotFound", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a setup with a wrong link waited for the hashing pool: a stranger could spend it")
	}

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	go func() {
		_, err := s.CompleteSetup(short, raw, "root", "a long enough password", "192.0.2.1", "r2")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("the right link, the pool busy past the request's end: %v, want its deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a setup whose request ended still waits for the hashing pool")
	}
	if ok, _ := s.HasAdmin(ctx); ok {
		t.Fatal("a setup that never hashed created an admin")
	}

	release()
	u, err := s.CompleteSetup(ctx, raw, "Root", "a long enough password", "192.0.2.1", "r3")
	if err != nil {
		t.Fatalf("the right link: %v", err)
	}
	p, err := s.AuditEvents(ctx, AuditFilter{Action: ActionUserCreate}, Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rows) != 1 {
		t.Fatalf("user.create events: %d, want 1", len(p.Rows))
	}
	ev := p.Rows[0]
	if ev.Actor != "root" || ev.ActorType != ActorStaff || ev.UserID == nil || *ev.UserID != u.ID ||
		ev.RemoteAddr != "192.0.2.1" || ev.RequestID != "r3" || ev.Reason == "" {
		t.Errorf("the setup's audit event: %+v", ev)
	}
}
