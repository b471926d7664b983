package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

func TestPurgeTokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	day := 24 * time.Hour
	now := time.Now().UTC().Truncate(time.Second)
	clock := modelstest.NewClock(now.Add(-90 * day))
	st := modelstest.NewStoreWithClock(t, clock.Now)
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
		_, err := st.FindTokenByHash(ctx, models.HashSecret(raw))
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

	res, err := st.PurgeTokens(ctx, 720*time.Hour)
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	if got, want := res, (models.PurgeResult{Before: now.Add(-720 * time.Hour), Tokens: 4, Codes: 1, Sessions: 1}); got != want {
		t.Errorf("purge 720h: got %+v, want %+v", got, want)
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
	if after.Grants != before.Grants {
		t.Errorf("grants: got %d, want %d", after.Grants, before.Grants)
	}
	if _, err := st.ActiveToken(ctx, live.AccessToken); err != nil {
		t.Errorf("live token after purge: %v", err)
	}

	// With one hour, the recent revocation, the access token rotated away
	// and the one that expired two hours ago go too; the rotated refresh
	// token stays until it expires.
	res, err = st.PurgeTokens(ctx, time.Hour)
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	if res.Tokens != 4 || res.Codes != 0 || res.Sessions != 0 {
		t.Errorf("purge 1h: got %+v, want 4 tokens", res)
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

	if _, err := st.PurgeTokens(ctx, -time.Second); !errors.Is(err, models.ErrInvalid) {
		t.Errorf("negative age: got %v, want %v", err, models.ErrInvalid)
	}
}

func TestPurgeTokensInBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now().UTC()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	// 260 grants of two tokens each: more than one batch.
	const grants = 260
	for i := range grants {
		if _, err := st.IssueGrant(ctx, models.StartGrant{Client: f.Confidential, UserID: f.Alice.ID,
			GrantType: models.GrantPassword, Scope: "read", WithRefresh: true,
			At: now.Add(-90*24*time.Hour + time.Duration(i)*time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	live := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	res, err := st.PurgeTokens(ctx, 0)
	if err != nil {
		t.Fatalf("purge: %v", err)
	}
	if res.Tokens != 2*grants {
		t.Errorf("tokens: got %d, want %d", res.Tokens, 2*grants)
	}
	if _, err := st.ActiveToken(ctx, live.RefreshToken); err != nil {
		t.Errorf("live token after purge: %v", err)
	}
}
