package models

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AuditRow is an audit event with the names of the user and client it
// targets, joined in the same query.
type AuditRow struct {
	AuditEvent
	Username       string
	ClientName     string
	ClientPublicID string
}

// ParseAction accepts a known action; "" is any.
func ParseAction(s string) (Action, error) {
	if s == "" {
		return "", nil
	}
	for _, a := range AllActions {
		if string(a) == s {
			return a, nil
		}
	}
	return "", invalid("action", "Unknown action %q.", s)
}

// AllActions lists every audited action in a stable order, for filters.
var AllActions = []Action{ActionRevokeToken, ActionRevokeRefused, ActionRevokeGrant, ActionRevokeUserGrants,
	ActionRevokeClient, ActionRefreshReuse, ActionCodeReuse, ActionClientCreate, ActionClientRotate,
	ActionClientDisable, ActionUserCreate, ActionClientUpdate, ActionUserUpdate, ActionUserDisable, ActionUserEnable,
	ActionLoginFailure, ActionLoginThrottled, ActionStaffLogin}

// revocationActions are the actions that revoke tokens.
var revocationActions = []Action{ActionRevokeToken, ActionRevokeGrant, ActionRevokeUserGrants, ActionRevokeClient,
	ActionRefreshReuse, ActionCodeReuse, ActionClientDisable, ActionUserDisable}

// ListAudit lists audit events, newest first, with keyset pagination and
// the targets' names. Each filter but the time range walks its own (column,
// id) index; the time range filters the id order (events are written in
// time order, so the walk stops soon after the range's end).
func (s *Store) ListAudit(ctx context.Context, f AuditFilter, cur Cursor, limit int) (Page[AuditRow], error) {
	limit = clampLimit(limit)
	q, args := s.auditListSQL(f, cur, limit)
	rs, err := s.r.WithContext(ctx).Raw(q, args...).Rows()
	if err != nil {
		return Page[AuditRow]{}, unavailable("list audit", err)
	}
	defer rs.Close()
	var rows []AuditRow
	for rs.Next() {
		var r AuditRow
		e := &r.AuditEvent
		if err := rs.Scan(&e.ID, &e.CreatedAt, &e.ActorType, &e.Actor, &e.Action, &e.GrantID, &e.UserID, &e.ClientID,
			&e.Grants, &e.Tokens, &e.Reason, &e.RemoteAddr, &e.RequestID, &e.Count, &r.Username, &r.ClientName, &r.ClientPublicID); err != nil {
			return Page[AuditRow]{}, unavailable("list audit", err)
		}
		e.CreatedAt = e.CreatedAt.UTC()
		rows = append(rows, r)
	}
	if err := rs.Err(); err != nil {
		return Page[AuditRow]{}, unavailable("list audit", err)
	}
	return pageOf(rows, limit, func(r AuditRow) int64 { return r.ID }), nil
}

func (s *Store) auditListSQL(f AuditFilter, cur Cursor, limit int) (string, []any) {
	var b strings.Builder
	b.WriteString(`SELECT e.id, e.created_at, e.actor_type, e.actor, e.action, e.grant_id, e.user_id, e.client_id,
 e.grants, e.tokens, e.reason, e.remote_addr, e.request_id, e.count,
 COALESCE(u.username, '') AS username, COALESCE(c.name, '') AS client_name, COALESCE(c.client_id, '') AS client_public_id
FROM audit_events e LEFT JOIN users u ON u.id = e.user_id LEFT JOIN clients c ON c.id = e.client_id WHERE 1 = 1`)
	var args []any
	add := func(cond string, a any) {
		b.WriteString(" AND " + cond)
		args = append(args, a)
	}
	if f.Actor != "" {
		add("e.actor = ?", f.Actor)
	}
	if f.Action != "" {
		add("e.action = ?", f.Action)
	}
	if f.UserID != 0 {
		add("e.user_id = ?", f.UserID)
	}
	if f.ClientID != 0 {
		add("e.client_id = ?", f.ClientID)
	}
	if !f.From.IsZero() {
		add(s.noIndex("e.created_at")+" >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		add(s.noIndex("e.created_at")+" < ?", f.To.UTC())
	}
	if cur.Before > 0 {
		add("e.id < ?", cur.Before)
	}
	fmt.Fprintf(&b, " ORDER BY e.id DESC LIMIT %d", limit+1)
	return b.String(), args
}

// Overview is what the dashboard's first page shows.
type Overview struct {
	ActiveAccess, ActiveRefresh, ActiveGrants int64
	Clients, Users                            int64
	// Revocations and RevokedTokens count the revocations of the last 24
	// hours (audit events that revoked something) and the tokens they
	// revoked.
	Revocations, RevokedTokens int64
	// Days is the last 30 days, oldest first, UTC.
	Days []DayCount
}

// DayCount is one day of the overview chart.
type DayCount struct {
	Day     time.Time
	Issued  int64 // tokens issued that day
	Revoked int64 // live tokens revoked that day (from the audit trail)
}

// OverviewDays is how many days the chart spans.
const OverviewDays = 30

// Overview counts what the overview page shows. Its independent counts
// run at once on the read pool. Active tokens and grants are counted over
// partial indexes of the live rows; tokens revoked per day come from the
// audit trail, which keeps every revocation even after a purge.
//
// Tokens issued per day are counted from token ids: ids are handed out in
// issue order, so the tokens issued in a day are the ids between the first
// token of that day and the first of the next — 31 index seeks instead of
// a scan of a month of tokens. Purged tokens still count (they were
// issued); on PostgreSQL a rolled-back insert leaves a gap that counts one.
func (s *Store) Overview(ctx context.Context) (*Overview, error) {
	now := s.Now()
	db := s.r.WithContext(ctx)
	o := &Overview{}
	today := now.Truncate(24 * time.Hour)
	start := today.AddDate(0, 0, -(OverviewDays - 1))
	for i := range OverviewDays {
		o.Days = append(o.Days, DayCount{Day: start.AddDate(0, 0, i)})
	}
	live := func(t TokenType, dst *int64) func() error {
		// Without statistics SQLite may prefer tokens_revoked for "revoked_at
		// IS NULL", which matches nearly every row.
		from := "tokens"
		if s.dialect == DialectSQLite {
			from = "tokens INDEXED BY tokens_live_type"
		}
		return func() error {
			return db.Raw(`SELECT COUNT(*) FROM `+from+` WHERE type = ? AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > ?`, t, now).Scan(dst).Error
		}
	}
	day := "substr(created_at, 1, 10)"
	if s.dialect == DialectPostgres {
		day = "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
	}
	var revoked []struct {
		Day string
		N   int64
	}
	firsts := make([]*int64, OverviewDays+1)
	var maxID *int64
	jobs := []func() error{
		live(TokenTypeAccess, &o.ActiveAccess),
		live(TokenTypeRefresh, &o.ActiveRefresh),
		func() error {
			return db.Raw(`SELECT COUNT(*) FROM grants WHERE revoked_at IS NULL AND expires_at > ?`, now).Scan(&o.ActiveGrants).Error
		},
		func() error {
			var c struct{ Clients, Users int64 }
			err := db.Raw(`SELECT (SELECT COUNT(*) FROM clients) AS clients, (SELECT COUNT(*) FROM users) AS users`).Scan(&c).Error
			o.Clients, o.Users = c.Clients, c.Users
			return err
		},
		func() error {
			var rev struct{ N, Tokens int64 }
			err := db.Raw(`SELECT COUNT(*) AS n, COALESCE(SUM(tokens), 0) AS tokens FROM audit_events WHERE created_at >= ? AND action IN ? AND grants > 0`,
				now.Add(-24*time.Hour), revocationActions).Scan(&rev).Error
			o.Revocations, o.RevokedTokens = rev.N, rev.Tokens
			return err
		},
		func() error {
			return db.Raw("SELECT "+day+" AS day, COALESCE(SUM(tokens), 0) AS n FROM audit_events WHERE created_at >= ? AND action IN ? GROUP BY 1",
				start, revocationActions).Scan(&revoked).Error
		},
		func() error {
			if err := db.Raw("SELECT MAX(id) FROM tokens").Scan(&maxID).Error; err != nil {
				return err
			}
			for i := range firsts {
				var ids []int64
				if err := db.Raw("SELECT id FROM tokens WHERE created_at >= ? ORDER BY created_at, id LIMIT 1", start.AddDate(0, 0, i)).
					Scan(&ids).Error; err != nil {
					return err
				}
				if len(ids) > 0 {
					firsts[i] = &ids[0]
				}
			}
			return nil
		},
	}
	errs := make(chan error, len(jobs))
	for _, job := range jobs {
		go func() { errs <- job() }()
	}
	var firstErr error
	for range jobs {
		if err := <-errs; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, unavailable("overview", firstErr)
	}
	end := int64(1)
	if maxID != nil {
		end = *maxID + 1
	}
	first := func(i int) int64 {
		if firsts[i] == nil {
			return end
		}
		return *firsts[i]
	}
	for i := range o.Days {
		o.Days[i].Issued = max(0, first(i+1)-first(i))
	}
	byDay := make(map[string]*DayCount, OverviewDays)
	for i := range o.Days {
		byDay[o.Days[i].Day.Format(time.DateOnly)] = &o.Days[i]
	}
	for _, r := range revoked {
		if d := byDay[r.Day]; d != nil {
			d.Revoked = r.N
		}
	}
	return o, nil
}
