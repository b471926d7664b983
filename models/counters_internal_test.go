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

// TestCommitTimeBuckets: each commit is counted once, in the first bucket
// whose bound it does not pass (a commit of exactly 1 ms is in le=0.001),
// one slower than every bound only in the count, and the buckets are
// cumulative, as Prometheus reads them.
func TestCommitTimeBuckets(t *testing.T) {
	st := &Store{}
	for _, d := range []time.Duration{300 * time.Microsecond, time.Millisecond, 7 * time.Millisecond, 120 * time.Millisecond, 2 * time.Second} {
		st.counters.countCommit(3, d)
	}
	s := st.Stats()
	want := map[float64]uint64{0.0001: 0, 0.00025: 0, 0.0005: 1, 0.001: 2, 0.002: 2, 0.005: 2, 0.01: 3, 0.025: 3, 0.05: 3, 0.1: 3, 0.25: 4, 0.5: 4, 1: 4}
	for i, b := range CommitSecondsBounds {
		if s.CommitSeconds[i] != want[b] {
			t.Errorf("le=%v: %d commits, want %d", b, s.CommitSeconds[i], want[b])
		}
	}
	if s.CommitSecondsCount != 5 || s.Commits != 5 || s.Writes != 15 {
		t.Errorf("count %d, commits %d, writes %d; want 5, 5, 15", s.CommitSecondsCount, s.Commits, s.Writes)
	}
	if got, want := s.CommitSecondsSum, 2.1283; got < want-1e-9 || got > want+1e-9 {
		t.Errorf("sum %v s, want %v", got, want)
	}
}
