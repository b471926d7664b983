package models_test

import (
	"context"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models/modelstest"
)

// TestHotPathQueryPlans checks that the statements on the token, revocation
// and introspection paths search an index: a plan that scans the tokens
// table makes a revocation cost O(tokens) and shows up as a throughput
// collapse, not a failed test, unless this test catches it.
func TestHotPathQueryPlans(t *testing.T) {
	t.Parallel()
	modelstest.SkipOnPostgres(t)
	st := modelstest.NewStore(t)
	for _, tc := range []struct {
		name, query, wantIndex string
	}{
		{"token by hash", "SELECT id FROM tokens WHERE hash = x'00'", "tokens_hash"},
		{"revoke one grant's tokens", "UPDATE tokens SET revoked_at = '2030' WHERE grant_id IN (SELECT id FROM grants WHERE id = 5 AND revoked_at IS NULL AND expires_at > '2020') AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > '2020'", "tokens_grant"},
		{"revoke a user's grants", "UPDATE tokens SET revoked_at = '2030' WHERE grant_id IN (SELECT id FROM grants WHERE user_id = 5 AND revoked_at IS NULL AND expires_at > '2020') AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > '2020'", "SEARCH grants USING INDEX grants_user"},
		{"revoke a client's grants", "UPDATE tokens SET revoked_at = '2030' WHERE grant_id IN (SELECT id FROM grants WHERE client_id = 5 AND revoked_at IS NULL AND expires_at > '2020') AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > '2020'", "SEARCH grants USING INDEX grants_client"},
		{"rotate a grant's access tokens", "UPDATE tokens SET rotated_at = '2030' WHERE grant_id = 5 AND type = 'access_token' AND rotated_at IS NULL AND revoked_at IS NULL", "SEARCH tokens USING INDEX"},
		{"code by hash", "SELECT id FROM codes WHERE hash = x'00'", "codes_hash"},
		{"client by client_id", "SELECT id FROM clients WHERE client_id = 'x'", "clients_client_id"},
		{"session by hash", "SELECT u.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = x'00'", "sessions_hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := st.RawForTest(context.Background(), "EXPLAIN QUERY PLAN "+tc.query)
			if err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(rows, "\n")
			if !strings.Contains(plan, tc.wantIndex) {
				t.Errorf("plan does not use %s:\n%s", tc.wantIndex, plan)
			}
			if strings.Contains(plan, "SCAN tokens") || strings.Contains(plan, "SCAN grants") {
				t.Errorf("plan scans a table:\n%s", plan)
			}
		})
	}
}
