package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestOverviewCountsExact: after every kind of write — issue through each
// grant, refresh, every revocation path, reuse detection, purge, creating
// and disabling users and clients — and as the clock passes expiries
// without any write, the overview's kept counts equal a fresh COUNT(*) of
// the tables. On both databases (LATCHKEY_TEST_BACKEND=postgres).
func TestOverviewCountsExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 10, 17, 42, 123456000, time.UTC)
	clk := modelstest.NewClock(start)
	st := modelstest.NewStoreWithClock(t, clk.Now)
	f := modelstest.NewFixture(t, st)
	check := func(step string) {
		t.Helper()
		got, err := st.Overview(ctx)
		if err != nil {
			t.Fatalf("%s: overview: %v", step, err)
		}
		want, err := st.OverviewCountsForTest(ctx)
		if err != nil {
			t.Fatalf("%s: recount: %v", step, err)
		}
		type counts struct{ Access, Refresh, Grants, Clients, Users, Revocations, RevokedTokens int64 }
		g := counts{got.ActiveAccess, got.ActiveRefresh, got.ActiveGrants, got.Clients, got.Users, got.Revocations, got.RevokedTokens}
		w := counts{want.ActiveAccess, want.ActiveRefresh, want.ActiveGrants, want.Clients, want.Users, want.Revocations, want.RevokedTokens}
		if g != w {
			t.Errorf("%s (at %s): got %+v, want %+v", step, clk.Now().Format(time.RFC3339Nano), g, w)
		}
	}
	advance := func(d time.Duration) { clk.Set(clk.Now().Add(d)) }
	check("fixture")

	short := models.TTLs{Access: 90 * time.Second, Refresh: 150 * time.Minute}
	pw := func(c *models.Client, u *models.User, ttl models.TTLs) *models.Issued {
		t.Helper()
		iss, err := st.IssueGrant(ctx, models.StartGrant{Client: c, UserID: u.ID, GrantType: models.GrantPassword,
			Scope: c.Scope, WithRefresh: true, TTLs: ttl})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	a1 := pw(f.Confidential, f.Alice, short)
	a2 := pw(f.Confidential, f.Alice, models.TTLs{})
	b1 := pw(f.Public, f.Bob, short)
	check("password grants")
	if _, err := st.IssueGrant(ctx, models.StartGrant{Client: f.Confidential, GrantType: models.GrantClientCredentials,
		Scope: f.Confidential.Scope, TTLs: short}); err != nil {
		t.Fatal(err)
	}
	check("client credentials")
	exchange := func() *models.Issued {
		t.Helper()
		code, err := st.CreateCode(ctx, models.NewCode{Client: f.Confidential, UserID: f.Bob.ID,
			RedirectURI: "http://127.0.0.1:9999/callback", Scope: f.Confidential.Scope})
		if err != nil {
			t.Fatal(err)
		}
		iss, err := st.ExchangeCode(ctx, models.ExchangeCode{Client: f.Confidential, Code: code, TTLs: short})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = st.ExchangeCode(ctx, models.ExchangeCode{Client: f.Confidential, Code: code}) // reuse: revokes
		return iss
	}
	exchange()
	check("code exchange and code reuse")

	advance(45 * time.Second)
	r1, err := st.Refresh(ctx, models.RefreshGrant{Client: f.Confidential, RefreshToken: a1.RefreshToken, TTLs: short})
	if err != nil {
		t.Fatal(err)
	}
	check("refresh")
	if _, err := st.Refresh(ctx, models.RefreshGrant{Client: f.Confidential, RefreshToken: a1.RefreshToken}); err == nil {
		t.Fatal("reuse accepted")
	}
	check("refresh-token reuse")
	_ = r1

	// Expiries pass with no write: inside the minute, at the next
	// minute, across the hour.
	for _, d := range []time.Duration{20 * time.Second, 30 * time.Second, time.Minute, 40 * time.Minute, 30 * time.Minute, 2 * time.Hour} {
		advance(d)
		check("clock +" + d.String())
	}
	b2 := pw(f.Public, f.Bob, short)
	c1 := pw(f.Confidential, f.Bob, models.TTLs{})
	check("more grants")

	for _, c := range []struct {
		name string
		req  models.RevokeRequest
	}{
		{"endpoint, access token", models.RevokeRequest{Token: b2.AccessToken, AsClient: f.Public, Actor: models.AsClient(f.Public)}},
		{"endpoint, refused", models.RevokeRequest{Token: c1.AccessToken, AsClient: f.Other, Actor: models.AsClient(f.Other)}},
		{"endpoint, already revoked", models.RevokeRequest{Token: b2.RefreshToken, AsClient: f.Public, Actor: models.AsClient(f.Public)}},
		{"dashboard, grant", models.RevokeRequest{GrantID: a2.GrantID, Actor: models.Staff(f.Admin)}},
		{"self-service, user at client", models.RevokeRequest{UserID: f.Bob.ID, ClientID: f.Public.ID, Actor: models.EndUser(f.Bob)}},
		{"user, everything", models.RevokeRequest{UserID: f.Bob.ID, Actor: models.Staff(f.Admin)}},
	} {
		_, _ = st.Revoke(ctx, c.req)
		check(c.name)
	}
	_ = b1
	pw(f.Other, f.Alice, models.TTLs{})
	pw(f.Confidential, f.Alice, short)
	if _, err := st.Revoke(ctx, models.RevokeRequest{ClientID: f.Other.ID, Actor: models.Staff(f.Admin)}); err != nil {
		t.Fatal(err)
	}
	check("client-wide")
	pw(f.Confidential, f.Bob, short)
	if _, err := st.Revoke(ctx, models.RevokeRequest{Matching: &models.GrantMatch{GrantType: models.GrantPassword},
		Actor: models.Staff(f.Admin)}); err != nil {
		t.Fatal(err)
	}
	check("mass revocation")
	pw(f.Public, f.Alice, models.TTLs{})
	if _, err := st.DisableUser(ctx, f.Alice.ID, models.StaffAction{Actor: models.Staff(f.Admin)}); err != nil {
		t.Fatal(err)
	}
	check("disable user")
	if _, err := st.DisableClient(ctx, f.Public.ID, models.StaffAction{Actor: models.Staff(f.Admin)}); err != nil {
		t.Fatal(err)
	}
	check("disable client")
	if _, err := st.CreateUser(ctx, "carol", models.RoleUser, modelstest.Password); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateClient(ctx, models.NewClient{Name: "Third", Type: models.ClientPublic,
		GrantTypes: []models.GrantType{models.GrantPassword}}); err != nil {
		t.Fatal(err)
	}
	check("create user and client")
	advance(3 * time.Hour)
	if _, err := st.Purge(ctx, models.PurgeOptions{}); err != nil {
		t.Fatal(err)
	}
	check("purge")
	// What the migration does on a database with data: the same
	// counts rebuilt from the rows.
	pw(f.Confidential, f.Bob, short)
	if _, err := st.Revoke(ctx, models.RevokeRequest{Token: c1.RefreshToken, AsClient: f.Confidential, Actor: models.AsClient(f.Confidential)}); err != nil {
		t.Fatal(err)
	}
	if err := st.RebuildCounts(ctx); err != nil {
		t.Fatal(err)
	}
	check("rebuilt")
	// The revocations leave the 24-hour window minute by minute.
	advance(20*time.Hour + 37*time.Minute)
	for range 12 {
		advance(7*time.Minute + 13*time.Second)
		check("window moves")
	}
}
