package models_test

import (
	"errors"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestUpdateClient covers what the dashboard test does not reach: the
// client type's rules still apply, an unchanged save writes nothing, and
// a real change writes exactly one event.
func TestUpdateClient(t *testing.T) {
	t.Parallel()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	ctx := t.Context()
	a := models.StaffAction{Actor: models.Staff(f.Admin), Reason: "tidy up"}
	pub := f.Public
	same := models.ClientUpdate{Name: pub.Name, GrantTypes: []models.GrantType{models.GrantPassword, models.GrantAuthorizationCode, models.GrantRefreshToken},
		RedirectURIs: pub.RedirectURIList(), Scope: "write read", AllowedOrigins: pub.OriginList()}

	tests := []struct {
		name      string
		change    func(u *models.ClientUpdate)
		wantErr   error
		wantEvent bool
	}{
		{"a public client cannot take client_credentials", func(u *models.ClientUpdate) {
			u.GrantTypes = append(u.GrantTypes, models.GrantClientCredentials)
		}, models.ErrInvalid, false},
		{"authorization_code needs a redirect URI", func(u *models.ClientUpdate) { u.RedirectURIs = nil }, models.ErrInvalid, false},
		{"an origin with a path is refused", func(u *models.ClientUpdate) { u.AllowedOrigins = []string{"https://a.example/x"} }, models.ErrInvalid, false},
		{"an empty scope is refused", func(u *models.ClientUpdate) { u.Scope = " " }, models.ErrInvalid, false},
		{"the same settings in another order change nothing", func(*models.ClientUpdate) {}, nil, false},
		{"a new name is saved and audited", func(u *models.ClientUpdate) { u.Name = "Public App 2" }, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := same
			u.GrantTypes = append([]models.GrantType(nil), same.GrantTypes...)
			tc.change(&u)
			before, _ := st.TableCounts(ctx)
			got, err := st.UpdateClient(ctx, pub.ID, u, a)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("error: got %v, want %v", err, tc.wantErr)
			}
			after, _ := st.TableCounts(ctx)
			if gotEvent := after.AuditEvents == before.AuditEvents+1; gotEvent != tc.wantEvent || after.AuditEvents > before.AuditEvents+1 {
				t.Errorf("audit events: got %d more, want event %v", after.AuditEvents-before.AuditEvents, tc.wantEvent)
			}
			if err == nil {
				stored, _ := st.ClientByID(ctx, pub.ID)
				if stored.Name != got.Name || stored.Scope != got.Scope || stored.GrantTypes != got.GrantTypes || stored.Type != models.ClientPublic {
					t.Errorf("returned %+v, stored %+v", got, stored)
				}
			}
		})
	}
	if _, err := st.UpdateClient(ctx, 999999, same, a); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("unknown client: got %v, want ErrNotFound", err)
	}
}

// TestDisableUserExpiresCodes checks that a code approved just before the
// user was disabled cannot be exchanged for a new grant afterwards.
func TestDisableUserExpiresCodes(t *testing.T) {
	t.Parallel()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	ctx := t.Context()
	code, err := st.CreateCode(ctx, models.NewCode{Client: f.Confidential, UserID: f.Alice.ID, RedirectURI: "http://127.0.0.1:9999/callback", Scope: "read"})
	if err != nil {
		t.Fatal(err)
	}
	iss := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
	modelstest.IssuePassword(t, st, f.Confidential, f.Bob)
	res, err := st.DisableUser(ctx, f.Alice.ID, models.StaffAction{Actor: models.Staff(f.Admin)})
	if err != nil || res != (models.RevokeResult{Grants: 1, Tokens: 2}) {
		t.Fatalf("disable: got %+v, %v; want 1 grant, 2 tokens", res, err)
	}
	if _, err := st.ExchangeCode(ctx, models.ExchangeCode{Client: f.Confidential, Code: code}); !errors.Is(err, models.ErrInvalidGrant) {
		t.Errorf("exchanging a disabled user's code: got %v, want ErrInvalidGrant", err)
	}
	if _, err := st.ActiveToken(ctx, iss.AccessToken); err == nil {
		t.Errorf("the disabled user's token is still active")
	}
	if p, _ := st.RevokePreview(ctx, models.RevokeRequest{UserID: f.Bob.ID}); p.Grants != 1 {
		t.Errorf("bob's grants: got %d, want 1 untouched", p.Grants)
	}
	if _, err := st.UpdateUser(ctx, f.Alice.ID, models.UserUpdate{Role: "root"}, models.StaffAction{}); !errors.Is(err, models.ErrInvalid) {
		t.Errorf("unknown role: got %v, want ErrInvalid", err)
	}
}
