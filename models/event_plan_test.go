package models

import (
	"strings"
	"testing"
)

// TestEventQueryPlans checks that the delivery queries walk a key: the
// head of a stream's queue (read on every delivery) must cost the same
// with a million events in the outbox as with none, and so must a
// stream's backlog count on the dashboard, a delivery, an acknowledgement
// and the purge of events.
func TestEventQueryPlans(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	for _, tc := range []struct {
		name, q, want string
		args          []any
	}{
		{"oldest pending of a stream", qPendingEvents, "SEARCH se USING PRIMARY KEY (stream_id=?)", []any{3, 10}},
		{"backlog per stream", qStreamsOverview, "SEARCH se USING PRIMARY KEY (stream_id=?)", nil},
		{"head of every push stream", qPushStreamsDue, "SEARCH se USING PRIMARY KEY (stream_id=?)", nil},
		{"delivered, acknowledged", "DELETE FROM stream_events WHERE stream_id = ? AND event_id IN (?, ?)",
			"SEARCH stream_events USING PRIMARY KEY (stream_id=? AND event_id=?)", []any{3, 1, 2}},
		{"failed", "UPDATE stream_events SET attempts = attempts + 1, next_attempt_at = ? WHERE stream_id = ? AND event_id = ?",
			"SEARCH stream_events USING PRIMARY KEY (stream_id=? AND event_id=?)", []any{"2030", 3, 1}},
		{"ack by a stored jti", "SELECT id FROM events WHERE jti IN (?, ?) AND jti <> ''", "events_stored_jti", []any{"a", "b"}},
		{"client disabled", "DELETE FROM stream_events WHERE stream_id IN (SELECT id FROM streams WHERE client_id = ?)",
			"SEARCH stream_events USING PRIMARY KEY (stream_id=?)", []any{1}},
		{"purge: the next events", "SELECT id, created_at FROM events WHERE id > ? ORDER BY id LIMIT ?",
			"SEARCH events USING INTEGER PRIMARY KEY (rowid>?)", []any{1, 250}},
		{"purge: those no stream has to deliver", "DELETE FROM events WHERE id IN (?, ?) AND NOT " + strings.ReplaceAll(eventUndelivered, "e.id", "events.id"),
			"SEARCH se USING PRIMARY KEY (stream_id=? AND event_id=?)", []any{1, 2}},
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
