package models_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestAuditCoalescedAcrossReplicas: two replicas on one database each
// fold a flood of refused revocations into their own event; the counts,
// added with UPDATE … count = count + n, sum to the number of attempts, and
// closing a store writes the counts it still held.
func TestAuditCoalescedAcrossReplicas(t *testing.T) {
	for _, be := range []string{"sqlite", "postgres"} {
		t.Run(be, func(t *testing.T) {
			var dsn string
			if be == "sqlite" {
				dsn = filepath.Join(t.TempDir(), "latchkey.db")
				modelstest.Open(t, dsn)
			} else {
				_, dsn = modelstest.NewPostgresStore(t)
			}
			a, b := modelstest.Open(t, dsn), modelstest.Open(t, dsn)
			f := modelstest.NewFixture(t, a)
			victim := modelstest.IssuePassword(t, a, f.Confidential, f.Alice)
			var wg sync.WaitGroup
			for _, st := range []*models.Store{a, b} {
				for range 4 {
					wg.Go(func() {
						for range 40 {
							_, err := st.Revoke(context.Background(), models.RevokeRequest{Token: victim.AccessToken,
								AsClient: f.Public, Actor: models.AsClient(f.Public), Remote: "192.0.2.1"})
							if !errors.Is(err, models.ErrNotTokenOwner) {
								t.Errorf("got %v, want ErrNotTokenOwner", err)
								return
							}
						}
					})
				}
			}
			wg.Wait()
			a.Close()
			b.Close()
			page, err := modelstest.Open(t, dsn).ListAudit(context.Background(),
				models.AuditFilter{Action: models.ActionRevokeRefused}, models.Cursor{}, 50)
			if err != nil {
				t.Fatal(err)
			}
			sum := 0
			for _, e := range page.Rows {
				sum += e.Count
				if e.GrantID == nil || *e.GrantID != victim.GrantID || e.Actor != f.Public.ClientID {
					t.Errorf("event names grant %v by %q", e.GrantID, e.Actor)
				}
			}
			if sum != 320 || len(page.Rows) > 2 {
				t.Errorf("got %d events counting %d, want at most one per replica counting 320", len(page.Rows), sum)
			}
		})
	}
}

// TestLoginEventsCoalescePerUsernameAndAddress: failures fold per
// (username, address) and minute; another address, another username or
// the next minute starts a new event. A NUL in a typed username never
// reaches the database (PostgreSQL would refuse the row).
func TestLoginEventsCoalescePerUsernameAndAddress(t *testing.T) {
	clock := modelstest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	dsn := filepath.Join(t.TempDir(), "latchkey.db")
	if modelstest.OnPostgres() {
		_, dsn = modelstest.NewPostgresStore(t)
	}
	st := modelstest.OpenWith(t, dsn, models.Options{Now: clock.Now})
	f := modelstest.NewFixture(t, st)
	ctx := context.Background()
	rec := func(user, addr string) {
		t.Helper()
		if err := st.RecordLoginFailure(ctx, models.LoginAttempt{Username: user, Remote: addr, Via: "login page"}); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 {
		rec("alice", "192.0.2.1")
		rec("ALICE", "192.0.2.1") // one account, one key
		rec("alice", "192.0.2.2")
		rec("mallory\x00", "192.0.2.1")
	}
	clock.Set(clock.Now().Add(time.Minute))
	rec("alice", "192.0.2.1")
	st.Close() // writes the counts still held
	page, err := modelstest.Open(t, dsn).ListAudit(ctx, models.AuditFilter{Action: models.ActionLoginFailure}, models.Cursor{}, 50)
	if err != nil {
		t.Fatal(err)
	}
	type ev struct {
		actor, addr string
		count       int
	}
	var got []ev
	for _, e := range page.Rows {
		got = append(got, ev{e.Actor, e.RemoteAddr, e.Count})
		if e.Actor == "alice" && (e.UserID == nil || *e.UserID != f.Alice.ID) {
			t.Errorf("alice's event names user %v", e.UserID)
		}
	}
	want := []ev{{"alice", "192.0.2.1", 1}, {"mallory", "192.0.2.1", 10}, {"alice", "192.0.2.2", 10}, {"alice", "192.0.2.1", 20}}
	if !slices.Equal(got, want) {
		t.Errorf("events, newest first:\n got %v\nwant %v", got, want)
	}
	if s := st.Stats(); s.LoginFailures != 41 {
		t.Errorf("LoginFailures: got %d, want 41", s.LoginFailures)
	}
}
