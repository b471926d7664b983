package models_test

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestEndpointCredentialsMigration upgrades push streams stored with a
// credential in their endpoint URL, as before migration 30: the URL loses
// it and the stream's Authorization header carries it, so that no URL
// shown, echoed or logged holds one. A stream that also had an
// Authorization header keeps that one (it was what its pushes sent).
func TestEndpointCredentialsMigration(t *testing.T) {
	t.Parallel()
	for _, b := range modelstest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := b.New(t)
			rx, err := st.CreateClient(ctx, models.NewClient{Name: "rx", Type: models.ClientConfidential,
				GrantTypes: []models.GrantType{models.GrantClientCredentials}, SSF: true})
			if err != nil {
				t.Fatal(err)
			}
			mk := func(url, authz string) *models.Stream {
				s, err := st.CreateStream(ctx, rx.Client.ID, models.StreamConfig{Method: models.DeliveryPush, EndpointURL: "https://rs.example/events"})
				if err != nil {
					t.Fatal(err)
				}
				if err := st.ExecArgsForTest(ctx, "UPDATE streams SET endpoint_url = ?, authorization_header = ? WHERE stream_id = ?", url, authz, s.StreamID); err != nil {
					t.Fatal(err)
				}
				return s
			}
			both := mk("https://rs:Pw%21@rs.example/events?x=1", "")
			user := mk("https://SecretToken@rs.example/events", "")
			kept := mk("https://rs:Ignored@rs.example/events", "Bearer kept")
			plain := mk("https://rs.example/a@b", "Bearer plain")
			if err := st.ExecArgsForTest(ctx, "DELETE FROM schema_migrations WHERE version = 30"); err != nil {
				t.Fatal(err)
			}
			if n, err := st.Migrate(ctx); err != nil || n != 1 {
				t.Fatalf("migrate: applied %d, %v; want 1", n, err)
			}
			basic := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
			for _, tc := range []struct {
				s          *models.Stream
				url, authz string
			}{
				{both, "https://rs.example/events?x=1", basic("rs:Pw!")},
				{user, "https://rs.example/events", basic("SecretToken:")},
				{kept, "https://rs.example/events", "Bearer kept"},
				{plain, "https://rs.example/a@b", "Bearer plain"},
			} {
				got, err := st.StreamByID(ctx, models.AnyOwner, tc.s.StreamID)
				if err != nil {
					t.Fatal(err)
				}
				if got.EndpointURL != tc.url || got.AuthorizationHeader != tc.authz {
					t.Errorf("after the migration: %q with %q, want %q with %q", got.EndpointURL, got.AuthorizationHeader, tc.url, tc.authz)
				}
			}
		})
	}
}
