package models

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"
)

// TestRevocationCountersOncePerCommit: when one write of a batch fails,
// the writer rolls the batch back and runs each write again alone; a
// revocation in that batch is still counted once, and a rolled-back one
// not at all.
func TestRevocationCountersOncePerCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	UseFastPasswordHashForTests()
	st := openPlanStore(t)
	u, err := st.CreateUser(ctx, "admin", RoleAdmin, "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	cc, err := st.CreateClient(ctx, NewClient{Name: "App", Type: ClientConfidential, GrantTypes: []GrantType{GrantClientCredentials}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	grants := make([]int64, n)
	for i := range grants {
		iss, err := st.IssueGrant(ctx, StartGrant{Client: cc.Client, GrantType: GrantClientCredentials, Scope: cc.Client.Scope})
		if err != nil {
			t.Fatal(err)
		}
		grants[i] = iss.GrantID
	}
	before := st.Stats()

	// Hold the writer, queue the revocations and failing writes behind it,
	// then let them go as one batch.
	holding, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = st.write(ctx, func(*gorm.DB) error { close(holding); <-release; return nil })
	})
	<-holding
	for i := range n {
		wg.Go(func() {
			if _, err := st.Revoke(ctx, RevokeRequest{GrantID: grants[i], Actor: Staff(u)}); err != nil {
				t.Errorf("revoke: %v", err)
			}
		})
		wg.Go(func() { _ = st.write(ctx, func(*gorm.DB) error { return errors.New("fails") }) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(st.batch.ops) < 2*n && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if len(st.batch.ops) != 2*n {
		t.Fatalf("%d writes queued, want %d", len(st.batch.ops), 2*n)
	}
	close(release)
	wg.Wait()

	s := st.Stats()
	if got := s.Revocations[PathDashboard][OutcomeRevoked] - before.Revocations[PathDashboard][OutcomeRevoked]; got != n {
		t.Errorf("revocations counted: got %d, want %d", got, n)
	}
	if got := s.RevokedGrants[PathDashboard] - before.RevokedGrants[PathDashboard]; got != n {
		t.Errorf("grants counted: got %d, want %d", got, n)
	}
	// The holding write, then the revocations alone after the batch failed.
	if got := s.Writes - before.Writes; got != n+1 {
		t.Errorf("committed writes: got %d, want %d", got, n+1)
	}
}
