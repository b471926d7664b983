package models_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// clockedStore is a store whose clock the test moves, on the backend
// LATCHKEY_TEST_BACKEND names.
func clockedStore(t *testing.T, clock *modelstest.Clock) *models.Store {
	t.Helper()
	if modelstest.OnPostgres() {
		_, dsn := modelstest.NewPostgresStore(t)
		return modelstest.OpenWith(t, dsn, models.Options{Now: clock.Now})
	}
	return modelstest.NewStoreWithClock(t, clock.Now)
}

// grantExists reports whether grant id still has its row.
func grantExists(t *testing.T, st *models.Store, id int64) bool {
	t.Helper()
	_, err := st.GrantByID(context.Background(), id)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("grant %d: %v", id, err)
	}
	return err == nil
}

func TestPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	day := 24 * time.Hour
	now := time.Now().UTC().Truncate(time.Second)
	clock := modelstest.NewClock(now.Add(-90 * day))
	st := clockedStore(t, clock)
	f := modelstest.NewFixture(t, st)
	revoke := func(iss *models.Issued) {
		t.Helper()
		if _, err := st.Revoke(ctx, models.RevokeRequest{GrantID: iss.GrantID, Actor: models.Staff(f.Admin), Reason: "test"}); err != nil {
			t.Fatalf("revoke: %v", err)
		}
	}

	// 90 days ago: a grant whose tokens expired 60 days ago, a code and a
	// session.
	expired := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	if _, err := st.CreateCode(ctx, models.NewCode{Client: f.Confidential, UserID: f.Alice.ID,
		RedirectURI: "http://127.0.0.1:9999/callback", Scope: "read"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateSession(ctx, f.Alice); err != nil {
		t.Fatal(err)
	}
	// 40 days ago: a grant revoked at once; its refresh token has not
	// expired yet, but it was revoked long ago.
	clock.Set(now.Add(-40 * day))
	revokedLongAgo := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	revoke(revokedLongAgo)
	// 10 days ago: a grant revoked recently.
	clock.Set(now.Add(-10 * day))
	revokedRecently := modelstest.IssuePassword(t, st, f.Confidential, f.Bob)
	revoke(revokedRecently)
	// 3 hours ago: a grant refreshed at once, so its first tokens were
	// rotated away 3 hours ago.
	clock.Set(now.Add(-3 * time.Hour))
	rotated := modelstest.IssuePassword(t, st, f.Confidential, f.Bob)
	refreshed, err := st.Refresh(ctx, models.RefreshGrant{Client: f.Confidential, RefreshToken: rotated.RefreshToken})
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	// Now: a live grant and a live session.
	clock.Set(now)
	live := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	if _, err := st.CreateSession(ctx, f.Bob); err != nil {
		t.Fatal(err)
	}

	before, err := st.TableCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exists := func(raw string) bool {
		t.Helper()
		_, err := st.FindTokenByHash(ctx, models.TokenKey(raw))
		if err != nil && !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("find token: %v", err)
		}
		return err == nil
	}
	check := func(name string, want map[string]bool) {
		t.Helper()
		for label, w := range want {
			var raw string
			switch label {
			case "expired access":
				raw = expired.AccessToken
			case "expired refresh":
				raw = expired.RefreshToken
			case "revoked long ago":
				raw = revokedLongAgo.RefreshToken
			case "revoked recently":
				raw = revokedRecently.RefreshToken
			case "rotated access":
				raw = rotated.AccessToken
			case "rotated refresh":
				raw = rotated.RefreshToken
			case "refreshed access":
				raw = refreshed.AccessToken
			case "live access":
				raw = live.AccessToken
			case "live refresh":
				raw = live.RefreshToken
			default:
				t.Fatalf("unknown label %q", label)
			}
			if got := exists(raw); got != w {
				t.Errorf("%s: %s kept=%v, want %v", name, label, got, w)
			}
		}
	}

	// A dry run counts what the purge then deletes, and deletes nothing.
	want := models.PurgeResult{Before: now.Add(-720 * time.Hour), Tokens: 4, Codes: 1, Sessions: 1, Grants: 2}
	dry, err := st.Purge(ctx, models.PurgeOptions{OlderThan: 720 * time.Hour, DryRun: true})
	if err != nil {
		t.Fatalf("dry run: %v", err)
	}
	wantDry := want
	wantDry.DryRun = true
	if dry != wantDry {
		t.Errorf("dry run 720h: got %+v, want %+v", dry, wantDry)
	}
	if c, err := st.TableCounts(ctx); err != nil || c != before {
		t.Errorf("dry run deleted rows: got %+v, want %+v (%v)", c, before, err)
	}

	res, err := st.Purge(ctx, models.PurgeOptions{OlderThan: 720 * time.Hour})
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	if res != want {
		t.Errorf("purge 720h: got %+v, want %+v", res, want)
	}
	// The grants whose tokens are all gone went with them.
	for name, g := range map[string]struct {
		id   int64
		kept bool
	}{"expired": {expired.GrantID, false}, "revoked long ago": {revokedLongAgo.GrantID, false},
		"revoked recently": {revokedRecently.GrantID, true}, "rotated": {rotated.GrantID, true}, "live": {live.GrantID, true}} {
		if got := grantExists(t, st, g.id); got != g.kept {
			t.Errorf("purge 720h: %s grant kept=%v, want %v", name, got, g.kept)
		}
	}
	check("purge 720h", map[string]bool{
		"expired access": false, "expired refresh": false, "revoked long ago": false,
		"revoked recently": true, "rotated access": true, "rotated refresh": true,
		"refreshed access": true, "live access": true, "live refresh": true,
	})
	after, err := st.TableCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.AuditEvents != before.AuditEvents || after.AuditEvents == 0 {
		t.Errorf("audit events: got %d, want %d", after.AuditEvents, before.AuditEvents)
	}
	if after.Grants != before.Grants-2 {
		t.Errorf("grants: got %d, want %d", after.Grants, before.Grants-2)
	}
	if _, err := st.ActiveToken(ctx, live.AccessToken); err != nil {
		t.Errorf("live token after purge: %v", err)
	}

	// With one hour, the recent revocation, the access token rotated away
	// and the one that expired two hours ago go too; the rotated refresh
	// token stays until it expires.
	res, err = st.Purge(ctx, models.PurgeOptions{OlderThan: time.Hour})
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	if res.Tokens != 4 || res.Codes != 0 || res.Sessions != 0 || res.Grants != 1 {
		t.Errorf("purge 1h: got %+v, want 4 tokens and 1 grant", res)
	}
	if grantExists(t, st, revokedRecently.GrantID) || !grantExists(t, st, rotated.GrantID) {
		t.Errorf("purge 1h: the revoked grant must go, the refreshed one stay")
	}
	check("purge 1h", map[string]bool{
		"revoked recently": false, "rotated access": false, "rotated refresh": true,
		"refreshed access": false, "live access": true, "live refresh": true,
	})
	if _, err := st.ActiveToken(ctx, refreshed.RefreshToken); err != nil {
		t.Fatalf("refreshed grant before reuse: %v", err)
	}
	// The kept refresh token still gives reuse away (RFC 9700 §4.14.2).
	if _, err := st.Refresh(ctx, models.RefreshGrant{Client: f.Confidential, RefreshToken: rotated.RefreshToken}); !errors.Is(err, models.ErrInvalidGrant) {
		t.Fatalf("reused refresh token: got %v, want %v", err, models.ErrInvalidGrant)
	}
	if _, err := st.ActiveToken(ctx, refreshed.RefreshToken); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("grant after refresh token reuse: got %v, want it revoked", err)
	}

	if _, err := st.Purge(ctx, models.PurgeOptions{OlderThan: -time.Second}); !errors.Is(err, models.ErrInvalid) {
		t.Errorf("negative age: got %v, want %v", err, models.ErrInvalid)
	}
}

func TestPurgeInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now().UTC()
	clock := modelstest.NewClock(now)
	st := modelstest.NewStoreWithClock(t, clock.Now)
	f := modelstest.NewFixture(t, st)
	// 1,300 grants of two tokens each: more than one batch.
	const grants = 1300
	for i := range grants {
		clock.Set(now.Add(-90*24*time.Hour + time.Duration(i)*time.Second))
		if _, err := st.IssueGrant(ctx, models.StartGrant{Client: f.Confidential, UserID: f.Alice.ID,
			GrantType: models.GrantPassword, Scope: "read", WithRefresh: true}); err != nil {
			t.Fatal(err)
		}
	}
	clock.Set(now)
	live := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	res, err := st.Purge(ctx, models.PurgeOptions{OlderThan: 0})
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	if res.Tokens != 2*grants || res.Grants != grants {
		t.Errorf("got %d tokens and %d grants, want %d and %d", res.Tokens, res.Grants, 2*grants, grants)
	}
	if _, err := st.ActiveToken(ctx, live.RefreshToken); err != nil {
		t.Errorf("live token after purge: %v", err)
	}
}

// TestPurgeKeepsWhatReuseDetectionNeeds: a purge with no grace at all
// still keeps a used code until it expires, a rotated refresh token until
// it expires, and their grants, so that presenting either again is still
// recognised (and refused) rather than unknown, or a 503 for a grant that
// vanished under the code.
func TestPurgeKeepsWhatReuseDetectionNeeds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	clock := modelstest.NewClock(now)
	st := clockedStore(t, clock)
	f := modelstest.NewFixture(t, st)

	code, err := st.CreateCode(ctx, models.NewCode{Client: f.Confidential, UserID: f.Alice.ID,
		RedirectURI: "http://127.0.0.1:9999/callback", Scope: "read"})
	if err != nil {
		t.Fatal(err)
	}
	exchange := models.ExchangeCode{Client: f.Confidential, Code: code, RedirectURI: "http://127.0.0.1:9999/callback"}
	iss, err := st.ExchangeCode(ctx, exchange)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if _, err := st.Refresh(ctx, models.RefreshGrant{Client: f.Confidential, RefreshToken: iss.RefreshToken}); err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if _, err := st.Revoke(ctx, models.RevokeRequest{GrantID: iss.GrantID, Actor: models.Staff(f.Admin)}); err != nil {
		t.Fatal(err)
	}
	clock.Set(now.Add(10 * time.Second))

	res, err := st.Purge(ctx, models.PurgeOptions{OlderThan: 0})
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	// Gone: the first access token (rotated away), the second pair
	// (revoked). Kept: the used code, the rotated refresh token, the grant.
	if res.Tokens != 3 || res.Codes != 0 || res.Grants != 0 {
		t.Errorf("purge: got %+v, want 3 tokens, no code, no grant", res)
	}
	if !grantExists(t, st, iss.GrantID) {
		t.Fatal("the grant of a used, unexpired code was purged")
	}
	if _, err := st.FindTokenByHash(ctx, models.TokenKey(iss.RefreshToken)); err != nil {
		t.Errorf("rotated refresh token: %v, want it kept until it expires", err)
	}
	if _, err := st.ExchangeCode(ctx, exchange); !errors.Is(err, models.ErrInvalidGrant) {
		t.Errorf("used code again: got %v, want %v", err, models.ErrInvalidGrant)
	}
	if _, err := st.Refresh(ctx, models.RefreshGrant{Client: f.Confidential, RefreshToken: iss.RefreshToken}); !errors.Is(err, models.ErrInvalidGrant) {
		t.Errorf("rotated refresh token again: got %v, want %v", err, models.ErrInvalidGrant)
	}

	// Once the code has expired it goes; the refresh token still keeps
	// the grant.
	clock.Set(now.Add(2 * time.Minute))
	res, err = st.Purge(ctx, models.PurgeOptions{OlderThan: 0})
	if err != nil || res.Codes != 1 || res.Grants != 0 || !grantExists(t, st, iss.GrantID) {
		t.Errorf("purge after the code expired: got %+v %v, want the code gone and the grant kept", res, err)
	}
}

// TestBackgroundPurge runs the server's purger: it deletes old expired and
// revoked rows and dead grants, leaves live ones, and leaves a rotated
// refresh token that has not expired, whose reuse then still revokes its
// grant.
func TestBackgroundPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	day := 24 * time.Hour
	now := time.Now().UTC().Truncate(time.Second)
	clock := modelstest.NewClock(now.Add(-40 * day))
	st := clockedStore(t, clock)
	f := modelstest.NewFixture(t, st)

	// Rows dead for more than a week go: a grant whose refresh token
	// expired 10 days ago, and one revoked 20 days ago.
	expired := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	clock.Set(now.Add(-20 * day))
	revoked := modelstest.IssuePassword(t, st, f.Confidential, f.Bob)
	if _, err := st.Revoke(ctx, models.RevokeRequest{GrantID: revoked.GrantID, Actor: models.Staff(f.Admin)}); err != nil {
		t.Fatal(err)
	}
	// A grant refreshed 20 days ago: both its access tokens are dead, its
	// first refresh token was rotated away 20 days ago but expires only in
	// 10 days, and its second is live.
	rotated := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	refreshed, err := st.Refresh(ctx, models.RefreshGrant{Client: f.Confidential, RefreshToken: rotated.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	clock.Set(now)
	live := modelstest.IssuePassword(t, st, f.Confidential, f.Bob)

	pctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		st.RunPurger(pctx, models.PurgerOptions{OlderThan: 7 * day, Interval: 20 * time.Millisecond})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for st.Stats().PurgeRuns.Done < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done
	stats := st.Stats()
	if stats.PurgeRuns.Done < 2 {
		t.Fatalf("the purger did not run twice in 10 s: %+v", stats.PurgeRuns)
	}
	if got := stats.Purged; got["tokens"] != 6 || got["grants"] != 2 || got["codes"] != 0 {
		t.Errorf("purged: got %v, want 6 tokens and 2 grants", got)
	}
	if stats.PurgeLastSuccess.IsZero() {
		t.Error("no last successful purge recorded")
	}
	for name, g := range map[string]struct {
		id   int64
		kept bool
	}{"expired": {expired.GrantID, false}, "revoked": {revoked.GrantID, false}, "rotated": {rotated.GrantID, true}, "live": {live.GrantID, true}} {
		if got := grantExists(t, st, g.id); got != g.kept {
			t.Errorf("%s grant kept=%v, want %v", name, got, g.kept)
		}
	}
	if _, err := st.ActiveToken(ctx, live.AccessToken); err != nil {
		t.Errorf("live token after the purge: %v", err)
	}
	for name, raw := range map[string]string{"rotated": rotated.RefreshToken, "current": refreshed.RefreshToken} {
		tok, err := st.FindTokenByHash(ctx, models.TokenKey(raw))
		if err != nil {
			t.Fatalf("%s refresh token after the purge: %v", name, err)
		}
		if tok.RevokedAt != nil || !tok.ExpiresAt.After(now) {
			t.Fatalf("%s refresh token: %+v, want it unrevoked and unexpired", name, tok)
		}
	}
	// Reuse of the rotated refresh token, 20 days after its rotation,
	// still revokes the grant (RFC 9700 §4.14.2): its current refresh
	// token stops working.
	if _, err := st.Refresh(ctx, models.RefreshGrant{Client: f.Confidential, RefreshToken: rotated.RefreshToken}); !errors.Is(err, models.ErrInvalidGrant) {
		t.Fatalf("reuse: got %v, want %v", err, models.ErrInvalidGrant)
	}
	if _, err := st.Refresh(ctx, models.RefreshGrant{Client: f.Confidential, RefreshToken: refreshed.RefreshToken}); !errors.Is(err, models.ErrInvalidGrant) {
		t.Errorf("after reuse, the grant's current refresh token: got %v, want %v", err, models.ErrInvalidGrant)
	}
	if got := st.Stats().Revocations[models.PathReuse][models.OutcomeRevoked]; got != 1 {
		t.Errorf("reuse revocations counted: got %d, want 1", got)
	}
}

// TestPurgeOneAtATime: two purges started at once on one database — two
// replicas on PostgreSQL (an advisory lock), or two goroutines of one
// process — never run together; the second reports ErrPurgeBusy while the
// first holds the lock, and runs once it is released.
func TestPurgeOneAtATime(t *testing.T) {
	t.Parallel()
	t.Run("two replicas on postgres", func(t *testing.T) {
		t.Parallel()
		a, dsn := modelstest.NewPostgresStore(t)
		testPurgeOneAtATime(t, a, modelstest.Open(t, dsn)) // a second replica: its own pool
	})
	t.Run("one process on sqlite", func(t *testing.T) {
		t.Parallel()
		modelstest.SkipOnPostgres(t)
		st := modelstest.NewStore(t)
		testPurgeOneAtATime(t, st, st)
	})
}

func testPurgeOneAtATime(t *testing.T, a, b *models.Store) {
	ctx := context.Background()

	// Deterministic: A holds the lock until told to let go.
	holding, release := make(chan struct{}), make(chan struct{})
	errA := make(chan error, 1)
	go func() {
		_, err := a.PurgeHoldingForTest(ctx, models.PurgeOptions{}, func() { close(holding); <-release })
		errA <- err
	}()
	<-holding
	if _, err := b.Purge(ctx, models.PurgeOptions{}); !errors.Is(err, models.ErrPurgeBusy) {
		t.Errorf("second purge while the first holds the lock: got %v, want %v", err, models.ErrPurgeBusy)
	} else if err.Error() != "models: skipped, another replica is purging" {
		t.Errorf("message: got %q", err)
	}
	if got := b.Stats().PurgeRuns.Skipped; got != 1 {
		t.Errorf("skipped purges counted: got %d, want 1", got)
	}
	close(release)
	if err := <-errA; err != nil {
		t.Fatalf("first purge: %v", err)
	}
	if _, err := b.Purge(ctx, models.PurgeOptions{}); err != nil {
		t.Errorf("purge after the lock was released: %v", err)
	}

	// Racing: both start together, five times; whoever gets the lock holds
	// it for 100 ms. Never two at once, and each time exactly one runs.
	var inside, most atomic.Int32
	hold := func() {
		n := inside.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(100 * time.Millisecond)
		inside.Add(-1)
	}
	for round := range 5 {
		start := make(chan struct{})
		errs := make(chan error, 2)
		for _, st := range []*models.Store{a, b} {
			go func() {
				<-start
				_, err := st.PurgeHoldingForTest(ctx, models.PurgeOptions{}, hold)
				errs <- err
			}()
		}
		close(start)
		ran, skipped := 0, 0
		for range 2 {
			switch err := <-errs; {
			case err == nil:
				ran++
			case errors.Is(err, models.ErrPurgeBusy):
				skipped++
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ran != 1 || skipped != 1 {
			t.Errorf("round %d: %d ran and %d skipped, want 1 and 1", round, ran, skipped)
		}
	}
	if most.Load() != 1 {
		t.Errorf("%d purges held the lock at once", most.Load())
	}
}
