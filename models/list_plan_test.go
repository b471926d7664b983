package models

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// listPlan returns SQLite's EXPLAIN QUERY PLAN of a list query.
func listPlan(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	rows, err := s.r.WithContext(context.Background()).Raw("EXPLAIN QUERY PLAN "+q, args...).Rows()
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	return strings.Join(lines, "\n")
}

// TestListQueryPlans checks that every dashboard list query walks an index
// (or the primary key) in the order it pages through, so that a page
// costs the same with a million tokens as with ten: no temporary B-tree
// for ORDER BY (that would sort every match), and the named index where a
// filter has one.
func TestListQueryPlans(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	now := time.Now().UTC()
	type tc struct {
		name, want string
		q          string
		args       []any
		sorts      bool // sorting is bounded: a grant's tokens, a user's clients
	}
	var cases []tc
	tok := func(name, want string, f TokenFilter, cur Cursor) {
		q, args := s.tokenListSQL(f, cur, 50)
		cases = append(cases, tc{"tokens " + name, want, q, args, f.GrantID != 0})
	}
	tok("unfiltered, first page", "", TokenFilter{}, Cursor{})
	tok("unfiltered, deep page", "USING INTEGER PRIMARY KEY", TokenFilter{}, Cursor{Before: 500000})
	tok("by user", "tokens_user", TokenFilter{UserID: 7}, Cursor{Before: 500000})
	tok("by client", "tokens_client", TokenFilter{ClientID: 3}, Cursor{})
	tok("by type", "tokens_type", TokenFilter{Type: TokenTypeRefresh}, Cursor{Before: 9})
	tok("revoked", "tokens_revoked_id", TokenFilter{Status: StatusRevoked}, Cursor{Before: 9})
	tok("active, deep page", "USING INTEGER PRIMARY KEY", TokenFilter{Status: StatusActive}, Cursor{Before: 9})
	tok("by grant", "tokens_grant", TokenFilter{GrantID: 4}, Cursor{})
	g := func(name, want, q string, args ...any) {
		cases = append(cases, tc{name, want, q + " ORDER BY g.id DESC LIMIT 51", args, false})
	}
	g("grants by user", "grants_user", grantRowSelect+" AND g.user_id = ? AND g.id < ?", now, 3, 100)
	g("grants by user and client", "grants_user_client", grantRowSelect+" AND g.user_id = ? AND g.client_id = ?", now, 3, 4)
	g("grants by client", "grants_client", grantRowSelect+" AND g.client_id = ? AND g.id < ?", now, 3, 100)
	aud := func(name, want string, f AuditFilter, cur Cursor) {
		q, args := s.auditListSQL(f, cur, 50)
		cases = append(cases, tc{"audit " + name, want, q, args, false})
	}
	aud("unfiltered", "", AuditFilter{}, Cursor{})
	aud("deep page", "USING INTEGER PRIMARY KEY", AuditFilter{}, Cursor{Before: 9})
	aud("by actor", "audit_events_actor", AuditFilter{Actor: "admin"}, Cursor{Before: 9})
	aud("by action", "audit_events_action", AuditFilter{Action: ActionRevokeGrant}, Cursor{})
	aud("by user", "audit_events_user", AuditFilter{UserID: 4}, Cursor{})
	aud("by client", "audit_events_client", AuditFilter{ClientID: 4}, Cursor{Before: 9})
	aud("time range", "USING INTEGER PRIMARY KEY", AuditFilter{From: now.Add(-time.Hour), To: now}, Cursor{Before: 9})
	cases = append(cases,
		tc{"users by role", "users_role", "SELECT id FROM users WHERE role = ? AND id < ? ORDER BY id DESC LIMIT 51", []any{"admin", 9}, false},
		tc{"clients deep page", "USING INTEGER PRIMARY KEY", "SELECT id FROM clients WHERE id < ? ORDER BY id DESC LIMIT 51", []any{9}, false},
		tc{"overview live tokens expiring this minute", "SEARCH tokens USING INDEX tokens_live_type (type=? AND expires_at>? AND expires_at<?)",
			s.qLiveTokensBefore(), []any{"refresh_token", now, now.Add(time.Minute)}, false},
		tc{"overview live grants expiring this minute", "SEARCH grants USING INDEX grants_live (expires_at>? AND expires_at<?)",
			qLiveGrantsBefore, []any{now, now.Add(time.Minute)}, false},
		tc{"overview kept counts", "SEARCH counts USING PRIMARY KEY (kind=? AND span=? AND start>? AND start<?)",
			qBucketSum, []any{"grant", 60, 0, 1}, false},
		tc{"overview revocations in the window's first minute", "SEARCH audit_events USING INDEX audit_events_action_created (action=? AND created_at>? AND created_at<?)",
			qRecentRevocationsBefore, append([]any{now, now}, anys(revocationActions)...), false},
		tc{"overview leak signals", "SEARCH audit_events USING INDEX audit_events_action_created (action=? AND created_at>?)",
			qSignals, append(anys(SignalActions), now), false},
		tc{"overview first token of a day", "tokens_created", "SELECT id FROM tokens WHERE created_at >= ? ORDER BY created_at, id LIMIT 1", []any{now}, false},
		tc{"self-service apps", "grants_user_client", `SELECT g.client_id, COUNT(*) FROM grants g CROSS JOIN clients c
 WHERE c.id = g.client_id AND g.user_id = ? AND g.revoked_at IS NULL AND g.expires_at > ? GROUP BY g.user_id, g.client_id ORDER BY g.client_id DESC LIMIT 51`, []any{3, now}, true},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := listPlan(t, s, c.q, c.args...)
			if c.want != "" && !strings.Contains(plan, c.want) {
				t.Errorf("plan does not use %s:\n%s", c.want, plan)
			}
			if strings.Contains(plan, "TEMP B-TREE FOR ORDER BY") && !c.sorts {
				t.Errorf("plan sorts every match instead of walking an index in order:\n%s", plan)
			}
			for _, joined := range []string{"SCAN c", "SCAN u", "SCAN g "} {
				if strings.Contains(plan+" ", joined) && strings.Contains(c.q, "JOIN") && !strings.HasPrefix(c.name, "grants") {
					t.Errorf("plan scans a joined table (%s):\n%s", joined, plan)
				}
			}
		})
	}
	if testing.Verbose() {
		for _, c := range cases[:1] {
			fmt.Println(listPlan(t, s, c.q, c.args...))
		}
	}
}

// TestNameListQueryPlans checks the queries that show names and counts
// instead of ids: the client and user lists with their per-row counts and
// last use (one query per page, each subquery an index search, never a
// scan of grants), the client lookups by name, and the search for the
// event that revoked a grant.
func TestNameListQueryPlans(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	now := time.Now().UTC()
	type tc struct {
		name  string
		wants []string
		q     string
		args  []any
	}
	var cases []tc
	cl := func(name string, f ClientFilter, cur Cursor, wants ...string) {
		q, args := s.clientListSQL(f, cur, 50)
		cases = append(cases, tc{"clients " + name, wants, q, args})
	}
	perClient := []string{"CORRELATED SCALAR SUBQUERY 1\nSEARCH g USING INDEX grants_client", "SEARCH g USING COVERING INDEX grants_client_used (client_id=?)"}
	cl("first page", ClientFilter{}, Cursor{}, perClient...)
	cl("deep page", ClientFilter{}, Cursor{Before: 9}, append([]string{"USING INTEGER PRIMARY KEY"}, perClient...)...)
	cl("searched", ClientFilter{Query: "acme"}, Cursor{}, perClient...)
	users := "SELECT " + userListColumns + " FROM users WHERE role = ? AND id < ? ORDER BY id DESC LIMIT 51"
	cases = append(cases,
		tc{"users with grant counts", []string{"users_role", "SEARCH g USING INDEX grants_user (user_id=?)"}, users, []any{now, "admin", 9}},
		tc{"client by name", []string{"clients_name_lower"}, "SELECT " + clientRowColumns + " FROM clients WHERE LOWER(name) = LOWER(?) ORDER BY id DESC LIMIT 10", []any{"Acme"}},
		tc{"client name taken", []string{"clients_name_lower"}, "SELECT client_id FROM clients WHERE LOWER(name) = LOWER(?) AND id <> ? LIMIT 1", []any{"Acme", 3}},
		tc{"event that revoked a grant", []string{"SEARCH g USING INTEGER PRIMARY KEY", "SEARCH e USING INDEX audit_events_action_created (action=? AND created_at=?)"},
			revocationSQL, []any{4, revocationActions}},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := listPlan(t, s, c.q, c.args...)
			for _, w := range c.wants {
				if !strings.Contains(plan, w) {
					t.Errorf("plan lacks %q:\n%s", w, plan)
				}
			}
			for _, bad := range []string{"TEMP B-TREE", "SCAN g", "SCAN e", "SCAN grants", "SCAN audit_events"} {
				// The revocation's events are those of a few actions at one
				// instant: a handful of rows, sorted by id.
				if bad == "TEMP B-TREE" && c.name == "event that revoked a grant" {
					continue
				}
				if strings.Contains(plan, bad) {
					t.Errorf("plan has %q:\n%s", bad, plan)
				}
			}
		})
	}
}
