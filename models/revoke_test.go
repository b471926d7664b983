package models_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

func TestRevoke(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		req        func(f *modelstest.Fixture, a, b *models.Issued) models.RevokeRequest
		wantErr    error
		want       models.RevokeResult
		wantEvents int
		aDead      bool // grant a's tokens stop working
		bDead      bool // grant b (same user and client) stops working
	}{
		{"access token with right hint", func(f *modelstest.Fixture, a, _ *models.Issued) models.RevokeRequest {
			return models.RevokeRequest{Token: a.AccessToken, Hint: models.TokenTypeAccess, AsClient: f.Confidential, Actor: models.AsClient(f.Confidential)}
		}, nil, models.RevokeResult{Grants: 1, Tokens: 2}, 1, true, false},
		{"refresh token with wrong hint", func(f *modelstest.Fixture, a, _ *models.Issued) models.RevokeRequest {
			return models.RevokeRequest{Token: a.RefreshToken, Hint: models.TokenTypeAccess, AsClient: f.Confidential, Actor: models.AsClient(f.Confidential)}
		}, nil, models.RevokeResult{Grants: 1, Tokens: 2}, 1, true, false},
		{"unknown token", func(f *modelstest.Fixture, _, _ *models.Issued) models.RevokeRequest {
			return models.RevokeRequest{Token: "lk_at_nope", AsClient: f.Confidential}
		}, nil, models.RevokeResult{}, 0, false, false},
		{"another client's token", func(f *modelstest.Fixture, a, _ *models.Issued) models.RevokeRequest {
			return models.RevokeRequest{Token: a.AccessToken, AsClient: f.Other, Actor: models.AsClient(f.Other)}
		}, models.ErrNotTokenOwner, models.RevokeResult{}, 1, false, false},
		{"grant by id", func(f *modelstest.Fixture, a, _ *models.Issued) models.RevokeRequest {
			return models.RevokeRequest{GrantID: a.GrantID, Actor: models.Staff(f.Admin), Reason: "leaked"}
		}, nil, models.RevokeResult{Grants: 1, Tokens: 2}, 1, true, false},
		{"all of a user's grants", func(f *modelstest.Fixture, _, _ *models.Issued) models.RevokeRequest {
			return models.RevokeRequest{UserID: f.Alice.ID, Actor: models.Staff(f.Admin)}
		}, nil, models.RevokeResult{Grants: 2, Tokens: 4}, 1, true, true},
		{"a user's grants at one other client", func(f *modelstest.Fixture, _, _ *models.Issued) models.RevokeRequest {
			return models.RevokeRequest{UserID: f.Alice.ID, ClientID: f.Other.ID, Actor: models.Staff(f.Admin)}
		}, nil, models.RevokeResult{}, 1, false, false},
		{"all of a client's tokens", func(f *modelstest.Fixture, _, _ *models.Issued) models.RevokeRequest {
			return models.RevokeRequest{ClientID: f.Confidential.ID, Actor: models.Staff(f.Admin)}
		}, nil, models.RevokeResult{Grants: 3, Tokens: 6}, 1, true, true},
	}
	for _, be := range modelstest.Backends() {
		for _, tc := range tests {
			t.Run(be.Name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				st := be.New(t)
				f := modelstest.NewFixture(t, st)
				a := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
				b := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
				bob := modelstest.IssuePassword(t, st, f.Confidential, f.Bob)

				res, err := st.Revoke(ctx, tc.req(f, a, b))
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err: got %v, want %v", err, tc.wantErr)
				}
				if res != tc.want {
					t.Errorf("result: got %+v, want %+v", res, tc.want)
				}
				for _, c := range []struct {
					name string
					iss  *models.Issued
					dead bool
				}{{"grant a", a, tc.aDead}, {"grant b", b, tc.bDead}} {
					for _, tok := range []string{c.iss.AccessToken, c.iss.RefreshToken} {
						_, err := st.ActiveToken(ctx, tok)
						if dead := errors.Is(err, models.ErrNotFound); dead != c.dead {
							t.Errorf("%s %s: dead=%v, want %v", c.name, tok[:6], dead, c.dead)
						}
					}
				}
				if _, err := st.ActiveToken(ctx, bob.AccessToken); (err != nil) != (tc.want.Grants == 3) {
					t.Errorf("bob's token: err=%v", err)
				}
				events, err := st.AuditEventsForTest(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(events) != tc.wantEvents {
					t.Fatalf("audit events: got %d, want %d", len(events), tc.wantEvents)
				}
				for _, ev := range events {
					if ev.Grants != tc.want.Grants || ev.Tokens != tc.want.Tokens {
						t.Errorf("event counts: got %d/%d, want %d/%d", ev.Grants, ev.Tokens, tc.want.Grants, tc.want.Tokens)
					}
					for _, tok := range []string{a.AccessToken, a.RefreshToken, f.Secret} {
						if strings.Contains(ev.Reason+ev.Actor+ev.RequestID, tok) {
							t.Errorf("event holds a secret")
						}
					}
				}

				// Idempotence: the same request again revokes nothing more and
				// writes no further event for a token.
				again, err := st.Revoke(ctx, tc.req(f, a, b))
				if tc.wantErr == nil && err != nil {
					t.Fatalf("second revoke: %v", err)
				}
				if again.Tokens != 0 || again.Grants != 0 {
					t.Errorf("second revoke: got %+v, want nothing", again)
				}
			})
		}
	}
}
