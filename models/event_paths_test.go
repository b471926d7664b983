package models_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// wantEvent is what one outbox event must say.
type wantEvent struct {
	sid        bool // names the session: the revoked grant's public id
	user       bool // names the user
	client     bool // names the client
	initiating models.InitiatingEntity
	reasonUser bool
	reason     string // reason_admin, when the case sets one
}

// TestRevocationEventsByPath drives every door into the revocation core
// and checks the outbox: exactly the events the shared design promises,
// written in the revocation's transaction, queued on the enabled and the
// paused stream and not on the disabled one; nothing when nothing was
// revoked.
func TestRevocationEventsByPath(t *testing.T) {
	t.Parallel()
	type world struct {
		f        *modelstest.Fixture
		a        *models.Issued // alice at the confidential client
		cc       *models.Issued // a client_credentials grant of the confidential client
		st       *models.Store
		grantSID map[int64]string
	}
	cli := models.CLI("root")
	tests := []struct {
		name string
		do   func(t *testing.T, w *world) (grantID int64, err error)
		want []wantEvent
	}{
		{"endpoint, a user's token (an app's logout)", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.Revoke(context.Background(), models.RevokeRequest{Token: w.a.RefreshToken, AsClient: w.f.Confidential,
				Actor: models.AsClient(w.f.Confidential), Reason: "client request"})
			return w.a.GrantID, err
		}, []wantEvent{{sid: true, user: true, client: true, initiating: models.InitiatedByUser}}},
		{"endpoint, a client_credentials token", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.Revoke(context.Background(), models.RevokeRequest{Token: w.cc.AccessToken, AsClient: w.f.Confidential,
				Actor: models.AsClient(w.f.Confidential)})
			return w.cc.GrantID, err
		}, []wantEvent{{sid: true, client: true, initiating: models.InitiatedBySystem}}},
		{"endpoint, another client's token: refused", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.Revoke(context.Background(), models.RevokeRequest{Token: w.a.AccessToken, AsClient: w.f.Other,
				Actor: models.AsClient(w.f.Other)})
			if !errors.Is(err, models.ErrNotTokenOwner) {
				t.Errorf("got %v, want %v", err, models.ErrNotTokenOwner)
			}
			return 0, nil
		}, nil},
		{"endpoint, an unknown token", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.Revoke(context.Background(), models.RevokeRequest{Token: "lk_at_unknown", AsClient: w.f.Confidential})
			return 0, err
		}, nil},
		{"endpoint, a token already revoked", func(t *testing.T, w *world) (int64, error) {
			ctx := context.Background()
			req := models.RevokeRequest{Token: w.a.AccessToken, AsClient: w.f.Confidential, Actor: models.AsClient(w.f.Confidential)}
			if _, err := w.st.Revoke(ctx, req); err != nil {
				return 0, err
			}
			_, err := w.st.Revoke(ctx, req)
			return w.a.GrantID, err
		}, []wantEvent{{sid: true, user: true, client: true, initiating: models.InitiatedByUser}}},
		{"dashboard, a grant", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.Revoke(context.Background(), models.RevokeRequest{GrantID: w.a.GrantID, Actor: models.Staff(w.f.Admin), Reason: "leaked"})
			return w.a.GrantID, err
		}, []wantEvent{{sid: true, user: true, client: true, initiating: models.InitiatedByAdmin, reason: "leaked"}}},
		{"dashboard, all of a user's grants", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.Revoke(context.Background(), models.RevokeRequest{UserID: w.f.Alice.ID, Actor: models.Staff(w.f.Admin)})
			return 0, err
		}, []wantEvent{{user: true, initiating: models.InitiatedByAdmin}}},
		{"dashboard, a user's grants at one client", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.Revoke(context.Background(), models.RevokeRequest{UserID: w.f.Alice.ID, ClientID: w.f.Confidential.ID,
				Actor: models.Staff(w.f.Admin)})
			return 0, err
		}, []wantEvent{{user: true, client: true, initiating: models.InitiatedByAdmin}}},
		{"dashboard, a user with nothing at that client", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.Revoke(context.Background(), models.RevokeRequest{UserID: w.f.Bob.ID, ClientID: w.f.Public.ID,
				Actor: models.Staff(w.f.Admin)})
			return 0, err
		}, nil},
		{"dashboard, all of a client's tokens", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.Revoke(context.Background(), models.RevokeRequest{ClientID: w.f.Confidential.ID, Actor: models.Staff(w.f.Admin)})
			return 0, err
		}, []wantEvent{{client: true, initiating: models.InitiatedByAdmin}}},
		{"self-service, an application", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.Revoke(context.Background(), models.RevokeRequest{UserID: w.f.Alice.ID, ClientID: w.f.Confidential.ID,
				Actor: models.EndUser(w.f.Alice)})
			return 0, err
		}, []wantEvent{{user: true, client: true, initiating: models.InitiatedByUser, reasonUser: true}}},
		{"CLI, a token", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.Revoke(context.Background(), models.RevokeRequest{Token: w.a.AccessToken, Actor: cli, Reason: "incident"})
			return w.a.GrantID, err
		}, []wantEvent{{sid: true, user: true, client: true, initiating: models.InitiatedByAdmin}}},
		{"CLI, a user", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.Revoke(context.Background(), models.RevokeRequest{UserID: w.f.Alice.ID, Actor: cli})
			return 0, err
		}, []wantEvent{{user: true, initiating: models.InitiatedByAdmin}}},
		{"CLI, a client", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.Revoke(context.Background(), models.RevokeRequest{ClientID: w.f.Confidential.ID, Actor: cli})
			return 0, err
		}, []wantEvent{{client: true, initiating: models.InitiatedByAdmin}}},
		{"refresh token reuse", func(t *testing.T, w *world) (int64, error) {
			ctx := context.Background()
			if _, err := w.st.Refresh(ctx, models.RefreshGrant{Client: w.f.Confidential, RefreshToken: w.a.RefreshToken}); err != nil {
				return 0, err
			}
			_, err := w.st.Refresh(ctx, models.RefreshGrant{Client: w.f.Confidential, RefreshToken: w.a.RefreshToken})
			if !errors.Is(err, models.ErrInvalidGrant) {
				t.Errorf("replay: got %v, want %v", err, models.ErrInvalidGrant)
			}
			// A second replay revokes nothing more, and says nothing more.
			_, _ = w.st.Refresh(ctx, models.RefreshGrant{Client: w.f.Confidential, RefreshToken: w.a.RefreshToken})
			return w.a.GrantID, nil
		}, []wantEvent{{sid: true, user: true, client: true, initiating: models.InitiatedByPolicy, reason: "refresh token reuse"}}},
		{"authorization code reuse", func(t *testing.T, w *world) (int64, error) {
			ctx := context.Background()
			code, err := w.st.CreateCode(ctx, models.NewCode{Client: w.f.Confidential, UserID: w.f.Bob.ID,
				RedirectURI: "http://127.0.0.1:9999/callback", Scope: "read"})
			if err != nil {
				return 0, err
			}
			x := models.ExchangeCode{Client: w.f.Confidential, Code: code, RedirectURI: "http://127.0.0.1:9999/callback"}
			iss, err := w.st.ExchangeCode(ctx, x)
			if err != nil {
				return 0, err
			}
			if _, err := w.st.ExchangeCode(ctx, x); !errors.Is(err, models.ErrInvalidGrant) {
				t.Errorf("second exchange: got %v, want %v", err, models.ErrInvalidGrant)
			}
			g, err := w.st.GrantByID(ctx, iss.GrantID)
			if err != nil {
				return 0, err
			}
			w.grantSID[iss.GrantID] = g.PublicID
			return iss.GrantID, nil
		}, []wantEvent{{sid: true, user: true, client: true, initiating: models.InitiatedByPolicy}}},
		{"disabling a user", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.DisableUser(context.Background(), w.f.Alice.ID, models.StaffAction{Actor: models.Staff(w.f.Admin), Reason: "left"})
			return 0, err
		}, []wantEvent{{user: true, initiating: models.InitiatedByPolicy}}},
		{"disabling a client", func(t *testing.T, w *world) (int64, error) {
			_, err := w.st.DisableClient(context.Background(), w.f.Confidential.ID, models.StaffAction{Actor: models.Staff(w.f.Admin)})
			return 0, err
		}, []wantEvent{{client: true, initiating: models.InitiatedByPolicy}}},
	}
	for _, be := range modelstest.Backends() {
		for _, tc := range tests {
			t.Run(be.Name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				st := be.New(t)
				f := modelstest.NewFixture(t, st)
				w := &world{f: f, st: st, grantSID: map[int64]string{}}
				w.a = modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
				var err error
				w.cc, err = st.IssueGrant(ctx, models.StartGrant{Client: f.Confidential, GrantType: models.GrantClientCredentials, Scope: "read"})
				if err != nil {
					t.Fatal(err)
				}
				for _, iss := range []*models.Issued{w.a, w.cc} {
					g, err := st.GrantByID(ctx, iss.GrantID)
					if err != nil {
						t.Fatal(err)
					}
					w.grantSID[iss.GrantID] = g.PublicID
				}
				rx := newReceiver(t, st, "Receiver")
				var streams [3]*models.Stream
				for i, status := range []models.StreamStatus{models.StreamEnabled, models.StreamPaused, models.StreamDisabled} {
					if streams[i], err = st.CreateStream(ctx, rx.ID, models.StreamConfig{Method: models.DeliveryPoll}); err != nil {
						t.Fatal(err)
					}
					if _, err := st.SetStreamStatus(ctx, rx.ID, streams[i].StreamID, status, ""); err != nil {
						t.Fatal(err)
					}
				}
				before, _ := st.TableCounts(ctx)

				grantID, err := tc.do(t, w)
				if err != nil {
					t.Fatal(err)
				}

				after, _ := st.TableCounts(ctx)
				if got := after.Events - before.Events; got != int64(len(tc.want)) {
					t.Fatalf("outbox: got %d new events, want %d", got, len(tc.want))
				}
				if got := after.StreamEvents - before.StreamEvents; got != 2*int64(len(tc.want)) {
					t.Errorf("deliveries: got %d, want %d (the enabled and the paused stream)", got, 2*len(tc.want))
				}
				for i, s := range streams {
					got, err := st.PendingEvents(ctx, s.StreamID, 10)
					if err != nil {
						t.Fatal(err)
					}
					want := len(tc.want)
					if i == 2 {
						want = 0
					}
					if len(got) != want {
						t.Fatalf("%s stream: got %d events, want %d", []string{"enabled", "paused", "disabled"}[i], len(got), want)
					}
					for j, p := range got {
						checkEvent(t, w.f, p.Event, tc.want[j], w.grantSID[grantID])
					}
				}
			})
		}
	}
}

// derivedJTI is the form of an event's jti: the database's random prefix
// and the event's id.
var derivedJTI = regexp.MustCompile(`^[0-9a-f]{32}-[1-9][0-9]*$`)

func checkEvent(t *testing.T, f *modelstest.Fixture, e models.Event, w wantEvent, sid string) {
	t.Helper()
	if e.Type != models.EventSessionRevoked || !derivedJTI.MatchString(e.JTI) || !strings.HasSuffix(e.JTI, fmt.Sprintf("-%d", e.ID)) || e.EventTime.IsZero() || e.CreatedAt.IsZero() {
		t.Errorf("event: %+v", e)
	}
	if e.Initiating != w.initiating {
		t.Errorf("initiating_entity: got %q, want %q", e.Initiating, w.initiating)
	}
	if w.sid != (e.SID != "") || (w.sid && e.SID != sid) {
		t.Errorf("sid: got %q, want %v (%q)", e.SID, w.sid, sid)
	}
	if w.user != (e.UserID != nil) || (w.user && (e.Username == "" || (*e.UserID != f.Alice.ID && *e.UserID != f.Bob.ID))) {
		t.Errorf("user: got %v %q, want %v", e.UserID, e.Username, w.user)
	}
	if w.client != (e.ClientID != nil) || (w.client && (*e.ClientID != f.Confidential.ID || e.ClientPublicID != f.Confidential.ClientID)) {
		t.Errorf("client: got %v %q, want %v", e.ClientID, e.ClientPublicID, w.client)
	}
	if w.reason != "" && e.ReasonAdmin != w.reason {
		t.Errorf("reason_admin: got %q, want %q", e.ReasonAdmin, w.reason)
	}
	if w.reasonUser != (e.ReasonUser != "") || (w.reasonUser && e.ReasonUser != "You revoked access for Confidential App") {
		t.Errorf("reason_user: got %q, want %v", e.ReasonUser, w.reasonUser)
	}
}

// TestNoLiveStreamNoOutbox: with no stream to deliver to (none, or only
// disabled ones), a revocation writes no outbox row — a stream receives
// what happens after it was created — and with one it does.
func TestNoLiveStreamNoOutbox(t *testing.T) {
	t.Parallel()
	for _, be := range modelstest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := be.New(t)
			f := modelstest.NewFixture(t, st)
			revoke := func() int64 {
				t.Helper()
				iss := modelstest.IssuePassword(t, st, f.Confidential, f.Alice)
				before, _ := st.TableCounts(ctx)
				if _, err := st.Revoke(ctx, models.RevokeRequest{GrantID: iss.GrantID, Actor: models.Staff(f.Admin), Reason: "test"}); err != nil {
					t.Fatal(err)
				}
				after, _ := st.TableCounts(ctx)
				return after.Events - before.Events
			}
			if n := revoke(); n != 0 {
				t.Errorf("no stream: %d outbox rows, want 0", n)
			}
			rx := newReceiver(t, st, "Receiver")
			s, err := st.CreateStream(ctx, rx.ID, models.StreamConfig{Method: models.DeliveryPoll})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.SetStreamStatus(ctx, rx.ID, s.StreamID, models.StreamDisabled, ""); err != nil {
				t.Fatal(err)
			}
			if n := revoke(); n != 0 {
				t.Errorf("only a disabled stream: %d outbox rows, want 0", n)
			}
			if _, err := st.SetStreamStatus(ctx, rx.ID, s.StreamID, models.StreamEnabled, ""); err != nil {
				t.Fatal(err)
			}
			if n := revoke(); n != 1 {
				t.Errorf("an enabled stream: %d outbox rows, want 1", n)
			}
		})
	}
}
