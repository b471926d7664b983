package models_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestRevokeMatching is the mass revocation's selector: by scope (one
// scope token, matched per space-separated token, exactly: not "readonly",
// not "READ", and "_" or "%" are not wildcards), by grant type, issued
// before a time, and their combinations, at one client or all. The
// preview counts what the revocation then revokes (from the same
// selector); one audit event records the criteria; the event streams get
// one event per client that lost grants; nothing else is touched.
func TestRevokeMatching(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	type grants map[string]int64
	for _, tc := range []struct {
		name     string
		match    models.GrantMatch
		atClient string // "" is every client
		want     []string
		wantErr  error
	}{
		{"scope at every client", models.GrantMatch{Scope: "read"}, "", []string{"alice-conf-read-write", "alice-other-read"}, nil},
		{"scope at one client", models.GrantMatch{Scope: "read"}, "conf", []string{"alice-conf-read-write"}, nil},
		{"scope token last in the list", models.GrantMatch{Scope: "write"}, "", []string{"alice-conf-read-write", "cc-conf-write"}, nil},
		{"underscore is no wildcard", models.GrantMatch{Scope: "re_d"}, "", []string{"bob-conf-re_d"}, nil},
		{"percent is no wildcard", models.GrantMatch{Scope: "re%"}, "", nil, nil},
		{"case matters", models.GrantMatch{Scope: "READ"}, "", []string{"bob-public-READ"}, nil},
		{"grant type", models.GrantMatch{GrantType: models.GrantClientCredentials}, "", []string{"cc-conf-write"}, nil},
		{"grant type at a client without any", models.GrantMatch{GrantType: models.GrantClientCredentials}, "other", nil, nil},
		{"issued before", models.GrantMatch{IssuedBefore: t0.Add(15 * time.Minute)}, "",
			[]string{"alice-conf-read-write", "alice-other-read", "bob-conf-readonly", "bob-conf-re_d"}, nil},
		{"scope and time", models.GrantMatch{Scope: "write", IssuedBefore: t0.Add(15 * time.Minute)}, "", []string{"alice-conf-read-write"}, nil},
		{"type and time at a client", models.GrantMatch{GrantType: models.GrantPassword, IssuedBefore: t0.Add(2 * time.Hour)}, "conf",
			[]string{"alice-conf-read-write", "bob-conf-readonly", "bob-conf-re_d"}, nil},
		{"nothing chosen", models.GrantMatch{}, "", nil, models.ErrInvalid},
		{"two scope tokens", models.GrantMatch{Scope: "read write"}, "", nil, models.ErrInvalid},
		{"refresh_token is no grant type of a grant", models.GrantMatch{GrantType: models.GrantRefreshToken}, "", nil, models.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clk := modelstest.NewClock(t0)
			st := modelstest.NewStoreWithClock(t, clk.Now)
			f := modelstest.NewFixture(t, st)
			clients := map[string]*models.Client{"conf": f.Confidential, "other": f.Other, "public": f.Public}
			g := grants{}
			issue := func(name string, c *models.Client, u *models.User, typ models.GrantType, scope string) {
				t.Helper()
				sg := models.StartGrant{Client: c, GrantType: typ, Scope: scope, WithRefresh: u != nil}
				if u != nil {
					sg.UserID = u.ID
				}
				iss, err := st.IssueGrant(ctx, sg)
				if err != nil {
					t.Fatal(err)
				}
				g[name] = iss.GrantID
			}
			issue("alice-conf-read-write", f.Confidential, f.Alice, models.GrantPassword, "read write")
			issue("alice-other-read", f.Other, f.Alice, models.GrantPassword, "read")
			issue("bob-conf-readonly", f.Confidential, f.Bob, models.GrantPassword, "readonly")
			issue("bob-conf-re_d", f.Confidential, f.Bob, models.GrantPassword, "re_d")
			clk.Set(t0.Add(30 * time.Minute))
			issue("cc-conf-write", f.Confidential, nil, models.GrantClientCredentials, "write")
			issue("bob-public-READ", f.Public, f.Bob, models.GrantAuthorizationCode, "READ")
			// Already revoked: never counted, never revoked again.
			issue("alice-conf-read-revoked", f.Confidential, f.Alice, models.GrantPassword, "read")
			if _, err := st.Revoke(ctx, models.RevokeRequest{GrantID: g["alice-conf-read-revoked"], Actor: models.Staff(f.Admin)}); err != nil {
				t.Fatal(err)
			}
			// A live stream, so that revocations write outbox events.
			if _, err := st.CreateStream(ctx, newReceiver(t, st, "Receiver").ID, models.StreamConfig{Method: models.DeliveryPoll}); err != nil {
				t.Fatal(err)
			}
			before, _ := st.AuditEventsForTest(ctx)
			eventsBefore, _ := st.RawForTest(ctx, "SELECT id FROM events")

			req := models.RevokeRequest{Matching: &tc.match, Actor: models.Staff(f.Admin), Reason: "incident 42"}
			if tc.atClient != "" {
				req.ClientID = clients[tc.atClient].ID
			}
			preview, err := st.RevokePreview(ctx, req)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("preview: got %v, want %v", err, tc.wantErr)
				}
				if _, err := st.Revoke(ctx, req); !errors.Is(err, tc.wantErr) {
					t.Fatalf("revoke: got %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			res, err := st.Revoke(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Grants != preview.Grants || res.Tokens != preview.Tokens {
				t.Errorf("revoked %+v, but the preview promised %+v", res, preview)
			}
			var revoked []string
			users := map[int64]bool{}
			wantTokens := 0
			for name, id := range g {
				gr, err := st.GrantByID(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if gr.RevokedAt != nil && name != "alice-conf-read-revoked" {
					revoked = append(revoked, name)
					if gr.UserID != nil {
						users[*gr.UserID] = true
						wantTokens += 2
					} else {
						wantTokens++
					}
				}
			}
			slices.Sort(revoked)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(revoked, want) {
				t.Errorf("revoked %v, want %v", revoked, want)
			}
			if res.Grants != len(want) || res.Tokens != wantTokens || preview.Users != len(users) {
				t.Errorf("got %d grants, %d tokens, %d users; want %d, %d, %d", res.Grants, res.Tokens, preview.Users, len(want), wantTokens, len(users))
			}
			after, _ := st.AuditEventsForTest(ctx)
			if len(after) != len(before)+1 {
				t.Fatalf("got %d audit events, want one more", len(after)-len(before))
			}
			ev := after[len(after)-1]
			if ev.Action != models.ActionRevokeMatching || ev.Grants != res.Grants || ev.Tokens != res.Tokens ||
				!strings.HasPrefix(ev.Reason, "incident 42 [") || !strings.Contains(ev.Reason, tc.match.String()) {
				t.Errorf("audit event: %+v", ev)
			}
			eventsAfter, _ := st.RawForTest(ctx, "SELECT id FROM events")
			perClient := map[int64]bool{}
			for _, name := range want {
				gr, _ := st.GrantByID(ctx, g[name])
				perClient[gr.ClientID] = true
			}
			if got := len(eventsAfter) - len(eventsBefore); got != len(perClient) {
				t.Errorf("got %d revocation events, want one per client that lost grants (%d)", got, len(perClient))
			}
			if again, _ := st.RevokePreview(ctx, req); again.Grants != 0 || again.Tokens != 0 {
				t.Errorf("preview after the revocation: got %+v, want nothing", again)
			}
		})
	}
}
