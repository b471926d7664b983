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
		tc{"overview live tokens", "tokens_live_type", "SELECT COUNT(*) FROM tokens INDEXED BY tokens_live_type WHERE type = ? AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > ?", []any{"refresh_token", now}, false},
		tc{"overview live grants", "grants_live", "SELECT COUNT(*) FROM grants WHERE revoked_at IS NULL AND expires_at > ?", []any{now}, false},
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
