package models_test

import (
	"context"
	"errors"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestTokensUnderARevokedGrantAreDead: a token whose grant is revoked is
// inactive and cannot be refreshed, even if its own row escaped the
// cascade — as tokens a refresh inserts while a revocation of its grant
// runs on PostgreSQL can. The grant decides.
func TestTokensUnderARevokedGrantAreDead(t *testing.T) {
	t.Parallel()
	for _, be := range modelstest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := be.New(t)
			f := modelstest.NewFixture(t, st)
			iss := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
			if _, err := st.ActiveToken(ctx, iss.AccessToken); err != nil {
				t.Fatalf("before: %v", err)
			}
			if err := st.MarkGrantRevokedForTest(ctx, iss.GrantID); err != nil {
				t.Fatal(err)
			}
			for name, tok := range map[string]string{"access": iss.AccessToken, "refresh": iss.RefreshToken} {
				if _, err := st.ActiveToken(ctx, tok); !errors.Is(err, models.ErrNotFound) {
					t.Errorf("%s token under a revoked grant: got %v, want not active", name, err)
				}
			}
			_, err := st.Refresh(ctx, models.RefreshGrant{Client: f.Confidential, RefreshToken: iss.RefreshToken})
			if !errors.Is(err, models.ErrInvalidGrant) {
				t.Errorf("refresh under a revoked grant: got %v, want invalid_grant", err)
			}
		})
	}
}

// TestFoundRevocationOfAMassRevocation: a grant revoked by a mass
// revocation at every client (an event naming no grant, user or client)
// still says when, by whom and why it was revoked.
func TestFoundRevocationOfAMassRevocation(t *testing.T) {
	t.Parallel()
	for _, be := range modelstest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := be.New(t)
			f := modelstest.NewFixture(t, st)
			iss := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
			if _, err := st.Revoke(ctx, models.RevokeRequest{Matching: &models.GrantMatch{GrantType: models.GrantPassword},
				Actor: models.Staff(f.Admin), Reason: "incident 7"}); err != nil {
				t.Fatal(err)
			}
			rev, err := st.GrantRevocation(ctx, iss.GrantID)
			if err != nil {
				t.Fatal(err)
			}
			if rev == nil || rev.Action != models.ActionRevokeMatching || rev.Actor != f.Admin.Username {
				t.Fatalf("got %+v, want the mass revocation by admin", rev)
			}
		})
	}
}
