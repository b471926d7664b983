package models_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestDashboardQueries checks the dashboard's reads against what the
// revocation core did: statuses, filters, previews, per-client sums and
// the overview's counts.
func TestDashboardQueries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := modelstest.NewClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	st := modelstest.NewStoreWithClock(t, clock.Now)
	f := modelstest.NewFixture(t, st)
	a1 := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	a2 := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	modelstest.IssuePassword(t, st, f.Other, f.Alice)
	b1 := modelstest.IssuePassword(t, st, f.Confidential, f.Bob)

	preview, err := st.RevokePreview(ctx, models.RevokeRequest{UserID: f.Alice.ID, ClientID: f.Confidential.ID})
	if err != nil || preview != (models.RevokeResult{Grants: 2, Tokens: 4, Users: 1}) {
		t.Fatalf("preview: got %+v, %v; want 2 grants, 4 tokens", preview, err)
	}
	res, err := st.Revoke(ctx, models.RevokeRequest{GrantID: a1.GrantID, Actor: models.Staff(f.Admin), Reason: "test"})
	if err != nil || res != (models.RevokeResult{Grants: 1, Tokens: 2}) {
		t.Fatalf("revoke: %+v %v", res, err)
	}
	if p, _ := st.RevokePreview(ctx, models.RevokeRequest{GrantID: a1.GrantID}); p != (models.RevokeResult{}) {
		t.Errorf("preview of a revoked grant: got %+v, want nothing", p)
	}

	count := func(f models.TokenFilter) int {
		p, err := st.ListTokens(ctx, f, models.Cursor{}, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(p.Rows)
	}
	tests := []struct {
		name string
		f    models.TokenFilter
		want int
	}{
		{"all", models.TokenFilter{}, 8},
		{"alice", models.TokenFilter{UserID: f.Alice.ID}, 6},
		{"confidential client", models.TokenFilter{ClientID: f.Confidential.ID}, 6},
		{"revoked", models.TokenFilter{Status: models.StatusRevoked}, 2},
		{"active", models.TokenFilter{Status: models.StatusActive}, 6},
		{"active refresh of bob", models.TokenFilter{UserID: f.Bob.ID, Type: models.TokenTypeRefresh, Status: models.StatusActive}, 1},
		{"one grant", models.TokenFilter{GrantID: a2.GrantID}, 2},
	}
	for _, tc := range tests {
		if got := count(tc.f); got != tc.want {
			t.Errorf("%s: got %d tokens, want %d", tc.name, got, tc.want)
		}
	}
	// Keyset pages: 8 tokens in pages of 3 is 3, 3, 2, newest first.
	var seen []int64
	cur := models.Cursor{}
	for range 4 {
		p, err := st.ListTokens(ctx, models.TokenFilter{}, cur, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Rows {
			seen = append(seen, r.ID)
		}
		if !p.HasNext {
			break
		}
		cur = p.Next
	}
	if len(seen) != 8 || seen[0] < seen[7] {
		t.Errorf("pages: got ids %v", seen)
	}

	row, err := st.FindTokenRow(ctx, models.TokenKey(b1.RefreshToken))
	if err != nil || row.Username != "bob" || row.ClientName != "Confidential App" || row.Status(st.Now()) != models.StatusActive {
		t.Errorf("find by hash: %+v %v", row, err)
	}
	if _, err := st.FindTokenRow(ctx, models.TokenKey("lk_at_unknown")); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("unknown token: got %v, want ErrNotFound", err)
	}

	apps, err := st.ActiveClientsByUser(ctx, f.Alice.ID, models.Cursor{}, 10)
	if err != nil || len(apps.Rows) != 2 {
		t.Fatalf("alice's apps: %+v %v", apps, err)
	}
	for _, a := range apps.Rows {
		if a.ClientID == f.Confidential.ID && (a.Grants != 1 || a.FirstIssued.IsZero()) {
			t.Errorf("confidential app: %+v", a)
		}
	}

	clock.Set(clock.Now().Add(2 * time.Hour)) // access tokens expire
	o, err := st.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o.ActiveAccess != 0 || o.ActiveRefresh != 3 || o.ActiveGrants != 3 || o.Clients != 3 || o.Users != 3 || o.Revocations != 1 || o.RevokedTokens != 2 {
		t.Errorf("overview: %+v", o)
	}
	last := o.Days[len(o.Days)-1]
	if len(o.Days) != models.OverviewDays || last.Issued != 8 || last.Revoked != 2 {
		t.Errorf("today in the chart: %+v", last)
	}
	if count(models.TokenFilter{Status: models.StatusExpired}) != 3 {
		t.Errorf("expired: got %d, want 3", count(models.TokenFilter{Status: models.StatusExpired}))
	}
}

// TestClientAdmin rotates a secret and disables a client, each with its
// own audit event; disabling revokes the client's tokens through the core.
func TestClientAdmin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	tok := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	other := modelstest.IssuePassword(t, st, f.Other, f.Alice)
	by := models.StaffAction{Actor: models.Staff(f.Admin), Reason: "leak"}

	secret, err := st.RotateClientSecret(ctx, f.Confidential.ID, by)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AuthenticateClient(ctx, f.Confidential.ClientID, f.Secret, true); !errors.Is(err, models.ErrBadLogin) {
		t.Errorf("old secret: got %v, want ErrBadLogin", err)
	}
	if _, err := st.AuthenticateClient(ctx, f.Confidential.ClientID, secret, true); err != nil {
		t.Errorf("new secret: %v", err)
	}
	if _, err := st.RotateClientSecret(ctx, f.Public.ID, by); !errors.Is(err, models.ErrInvalid) {
		t.Errorf("public client: got %v, want ErrInvalid", err)
	}
	if _, err := st.ActiveToken(ctx, tok.AccessToken); err != nil {
		t.Errorf("rotating the secret must not revoke tokens: %v", err)
	}

	res, err := st.DisableClient(ctx, f.Confidential.ID, by)
	if err != nil || res != (models.RevokeResult{Grants: 1, Tokens: 2}) {
		t.Fatalf("disable: %+v %v", res, err)
	}
	if _, err := st.ActiveToken(ctx, tok.AccessToken); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("a disabled client's token still works: %v", err)
	}
	if _, err := st.ActiveToken(ctx, other.AccessToken); err != nil {
		t.Errorf("another client's token: %v", err)
	}
	if _, err := st.AuthenticateClient(ctx, f.Confidential.ClientID, secret, true); !errors.Is(err, models.ErrBadLogin) {
		t.Errorf("a disabled client authenticates: %v", err)
	}
	if _, err := st.DisableClient(ctx, f.Confidential.ID, by); !errors.Is(err, models.ErrInvalid) {
		t.Errorf("disable twice: got %v, want ErrInvalid", err)
	}
	evs, err := st.ListAudit(ctx, models.AuditFilter{ClientID: f.Confidential.ID}, models.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var actions []models.Action
	for _, e := range evs.Rows {
		actions = append(actions, e.Action)
	}
	if len(actions) != 2 || actions[0] != models.ActionClientDisable || actions[1] != models.ActionClientRotate ||
		evs.Rows[0].Tokens != 2 || evs.Rows[0].Reason != "leak" || evs.Rows[0].ClientName != "Confidential App" {
		t.Errorf("audit: %v %+v", actions, evs.Rows)
	}
}
