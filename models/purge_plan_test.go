package models

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestPurgeQueryPlans checks that every purge batch finds its rows through
// an index: a batch that scans the tokens or grants table holds SQLite's
// write lock for as long as the scan takes, and every revocation waits
// behind it. setup_tokens holds a row per first-admin link, so its scan is
// free.
func TestPurgeQueryPlans(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	wantIndex := []string{"tokens_expires", "tokens_revoked", "tokens_rotated", "codes_expires", "sessions_expires", "",
		"grants_live", "grants_revoked", "", ""}
	if len(wantIndex) != len(purgeSteps) {
		t.Fatalf("%d purge steps, %d expected plans", len(purgeSteps), len(wantIndex))
	}
	for i, st := range purgeSteps {
		table := PurgeTables[st.table]
		if purgeWalks[st.table] != nil { // events: TestEventQueryPlans
			continue
		}
		q := fmt.Sprintf("SELECT %s.id FROM %s %s WHERE %s LIMIT %d", st.alias, table, st.alias, st.where, purgeBatch)
		plan := listPlan(t, s, q, st.args(time.Now())...)
		if table == "setup_tokens" || table == "signing_keys" { // a few rows
			continue
		}
		if !strings.Contains(plan, wantIndex[i]) {
			t.Errorf("%s: plan does not use %s:\n%s", q, wantIndex[i], plan)
		}
		if strings.Contains(plan, "SCAN ") {
			t.Errorf("%s: plan scans a table:\n%s", q, plan)
		}
		if table == "grants" && (!strings.Contains(plan, "tokens_grant") || !strings.Contains(plan, "codes_grant")) {
			t.Errorf("%s: a grant's tokens and codes are not found through an index:\n%s", q, plan)
		}
	}
}
