package models

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
)

// TestRolledBackBatchWritesOneEvent: when one write of a group-commit batch
// fails, the writer rolls the whole batch back and runs each write again
// alone (writer.go). A revocation in that batch runs twice; its outbox
// event, written in its transaction, must exist once.
func TestRolledBackBatchWritesOneEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openPlanStore(t)
	if s.Dialect() != DialectSQLite {
		t.Skip("the batcher is SQLite's")
	}
	UseFastPasswordHashForTests()
	u, err := s.CreateUser(ctx, "alice", RoleUser, "a long password")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := s.CreateClient(ctx, NewClient{Name: "App", Type: ClientConfidential, GrantTypes: []GrantType{GrantPassword}})
	if err != nil {
		t.Fatal(err)
	}
	rx, err := s.CreateClient(ctx, NewClient{Name: "Receiver", Type: ClientConfidential, GrantTypes: []GrantType{GrantClientCredentials}, SSF: true})
	if err != nil {
		t.Fatal(err)
	}
	stream, err := s.CreateStream(ctx, rx.Client.ID, StreamConfig{Method: DeliveryPoll})
	if err != nil {
		t.Fatal(err)
	}
	iss, err := s.IssueGrant(ctx, StartGrant{Client: cc.Client, UserID: u.ID, GrantType: GrantPassword, Scope: "read", WithRefresh: true})
	if err != nil {
		t.Fatal(err)
	}

	// Hold the writer, queue a revocation and a write that fails, then let
	// them run as one batch.
	hold, held := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = s.write(ctx, func(*gorm.DB) error { close(held); <-hold; return nil })
	})
	<-held
	var res RevokeResult
	var revokeErr error
	wg.Go(func() {
		res, revokeErr = s.Revoke(ctx, RevokeRequest{Token: iss.AccessToken, AsClient: cc.Client, Actor: AsClient(cc.Client)})
	})
	var runs atomic.Int32
	boom := errors.New("boom")
	var failErr error
	wg.Go(func() {
		for len(s.batch.ops) < 1 {
			time.Sleep(time.Millisecond)
		}
		failErr = s.write(ctx, func(tx *gorm.DB) error {
			runs.Add(1)
			return boom
		})
	})
	for len(s.batch.ops) < 2 {
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()

	if runs.Load() != 2 {
		t.Fatalf("the failing write ran %d times, want 2 (in the batch, then alone)", runs.Load())
	}
	if !errors.Is(failErr, boom) || revokeErr != nil || res.Grants != 1 {
		t.Fatalf("results: failing write %v; revocation %+v %v", failErr, res, revokeErr)
	}
	c, err := s.TableCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Events != 1 || c.StreamEvents != 1 || c.AuditEvents != 1 {
		t.Errorf("after a rerun: %d events, %d deliveries, %d audit events; want one of each", c.Events, c.StreamEvents, c.AuditEvents)
	}
	if p, _ := s.PendingEvents(ctx, stream.StreamID, 10); len(p) != 1 {
		t.Errorf("the stream has %d events, want 1", len(p))
	}
}
