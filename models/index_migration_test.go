package models_test

import (
	"context"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models/modelstest"
)

// TestNarrowIndexesMigration upgrades a database with the indexes as
// version 25 left them: afterwards tokens_revoked and the by-user indexes
// are partial, tokens_grant is on grant_id alone and audit_events_created
// is gone. (The plan tests check that every query still searches an
// index.)
func TestNarrowIndexesMigration(t *testing.T) {
	t.Parallel()
	for _, b := range modelstest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := b.New(t)
			if err := st.ExecSchemaForTest(ctx, `
DROP INDEX tokens_revoked;
CREATE INDEX tokens_revoked ON tokens (revoked_at);
DROP INDEX tokens_grant;
CREATE INDEX tokens_grant ON tokens (grant_id, revoked_at);
DROP INDEX tokens_user;
CREATE INDEX tokens_user ON tokens (user_id, id);
DROP INDEX grants_user_client;
CREATE INDEX grants_user_client ON grants (user_id, client_id, id);
DROP INDEX grants_user;
CREATE INDEX grants_user ON grants (user_id, id);
CREATE INDEX audit_events_created ON audit_events (created_at);
DROP INDEX audit_events_user;
CREATE INDEX audit_events_user ON audit_events (user_id, id);
DROP INDEX audit_events_client;
CREATE INDEX audit_events_client ON audit_events (client_id, id);
DELETE FROM schema_migrations WHERE version = 29`); err != nil {
				t.Fatalf("undo migration 29: %v", err)
			}
			if n, err := st.Migrate(ctx); err != nil || n != 1 {
				t.Fatalf("migrate: applied %d, %v; want 1", n, err)
			}
			defs, err := st.IndexDefsForTest(ctx)
			if err != nil {
				t.Fatal(err)
			}
			norm := func(s string) string { // "(revoked_at IS NOT NULL)" on PostgreSQL
				return strings.NewReplacer("(", "", ")", "", `"`, "").Replace(strings.ToLower(s))
			}
			for name, want := range map[string]string{
				"tokens_revoked":      "revoked_at where revoked_at is not null",
				"tokens_grant":        "grant_id",
				"tokens_user":         "user_id, id where user_id is not null",
				"grants_user":         "user_id, id where user_id is not null",
				"grants_user_client":  "user_id, client_id, id where user_id is not null",
				"audit_events_user":   "user_id, id where user_id is not null",
				"audit_events_client": "client_id, id where client_id is not null",
			} {
				if !strings.HasSuffix(norm(defs[name]), want) {
					t.Errorf("%s: %q, want it to end %q", name, defs[name], want)
				}
			}
			if def, ok := defs["audit_events_created"]; ok {
				t.Errorf("audit_events_created is still there: %s", def)
			}
		})
	}
}
