package models

import (
	"strings"
	"testing"
)

// TestEventQueryPlans checks that the delivery queries walk an index: the
// head of a stream's queue (read on every delivery) must cost the same
// with a million delivered events as with none, and so must a stream's
// backlog count on the dashboard.
func TestEventQueryPlans(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	for _, tc := range []struct {
		name, q, want string
		args          []any
	}{
		{"oldest pending of a stream", qPendingEvents, "USING INDEX stream_events_pending", []any{3, 10}},
		{"backlog per stream", qStreamsOverview, "SEARCH se USING INDEX stream_events_pending", nil},
		{"head of every push stream", qPushStreamsDue, "SEARCH se USING INDEX stream_events_pending", nil},
		{"ack by jti", "UPDATE stream_events SET delivered_at = ? WHERE stream_id = ? AND delivered_at IS NULL AND event_id IN (SELECT id FROM events WHERE jti IN (?, ?))",
			"events_jti", []any{"2030", 3, "a", "b"}},
		{"queue on every live stream", queueSessionRevokedSQL(2), "SEARCH e USING INDEX events_jti", []any{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan := listPlan(t, s, tc.q, tc.args...)
			if !strings.Contains(plan, tc.want) {
				t.Errorf("plan does not use %s:\n%s", tc.want, plan)
			}
			if strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("plan sorts:\n%s", plan)
			}
			if strings.Contains(plan, "SCAN se") || strings.Contains(plan, "SCAN stream_events") || strings.Contains(plan, "SCAN e\n") ||
				strings.HasSuffix(plan, "SCAN e") || strings.Contains(plan, "SCAN events") {
				t.Errorf("plan scans the outbox:\n%s", plan)
			}
		})
	}
}
