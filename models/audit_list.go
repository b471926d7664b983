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
	// ActorClientName is the name of the client that acted, when a client
	// did (its client_id is Actor).
	ActorClientName string
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
	ActionRevokeClient, ActionRevokeMatching, ActionRefreshReuse, ActionCodeReuse, ActionClientCreate, ActionClientRotate,
	ActionClientDisable, ActionUserCreate, ActionClientUpdate, ActionUserUpdate, ActionUserDisable, ActionUserEnable,
	ActionLoginFailure, ActionLoginThrottled, ActionStaffLogin, ActionStreamStatus, ActionStreamDelete, ActionKeyRotate}

// revocationActions are the actions that revoke tokens.
var revocationActions = []Action{ActionRevokeToken, ActionRevokeGrant, ActionRevokeUserGrants, ActionRevokeClient,
	ActionRevokeMatching, ActionRefreshReuse, ActionCodeReuse, ActionClientDisable, ActionUserDisable}

// ListAudit lists audit events, newest first, with keyset pagination and
// the targets' names. Each filter but the time range walks its own (column,
// id) index; the time range filters the id order (events are written in
// time order, so the walk stops soon after the range's end).
func (s *Store) ListAudit(ctx context.Context, f AuditFilter, cur Cursor, limit int) (Page[AuditRow], error) {
	limit = clampLimit(limit)
	q, args := s.auditListSQL(f, cur, limit)
	rows, err := s.scanAudit(ctx, q, args...)
	if err != nil {
		return Page[AuditRow]{}, unavailable("list audit", err)
	}
	return pageOf(rows, limit, func(r AuditRow) int64 { return r.ID }), nil
}

func (s *Store) auditListSQL(f AuditFilter, cur Cursor, limit int) (string, []any) {
	var b strings.Builder
	b.WriteString(`SELECT e.id, e.created_at, e.actor_type, e.actor, e.action, e.grant_id, e.user_id, e.client_id,
 e.grants, e.tokens, e.reason, e.remote_addr, e.request_id, e.count,
 COALESCE(u.username, '') AS username, COALESCE(c.name, '') AS client_name, COALESCE(c.client_id, '') AS client_public_id,
 COALESCE(ac.name, '') AS actor_client_name
FROM audit_events e LEFT JOIN users u ON u.id = e.user_id LEFT JOIN clients c ON c.id = e.client_id
 LEFT JOIN clients ac ON e.actor_type = 'client' AND ac.client_id = e.actor WHERE 1 = 1`)
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
	// Since is the start of the 24 hours of Revocations and Signals.
	Since time.Time
	// Signals are the leak signals of the last 24 hours, one per
	// SignalActions entry, in that order.
	Signals []Signal
	// Days is the last 30 days, oldest first, UTC.
	Days []DayCount
}

// Signal is how often one kind of leak signal happened.
type Signal struct {
	Action Action
	// Count sums the events' counts: repeats folded into one event
	// (refused revocations, throttled logins) count each time.
	Count int64
}

// SignalActions are the audited actions that suggest a leaked credential:
// a refresh token or a code presented twice, a client revoking a token
// issued to another client, and password guessing throttled.
var SignalActions = []Action{ActionRefreshReuse, ActionCodeReuse, ActionRevokeRefused, ActionLoginThrottled}

// qSignals sums the leak signals since a time, over the index
// audit_events_action_created: one short range per action.
var qSignals = "SELECT action, COALESCE(SUM(count), 0) FROM audit_events WHERE action IN (" +
	strings.TrimSuffix(strings.Repeat("?, ", len(SignalActions)), ", ") + ") AND created_at >= ? GROUP BY action"

// signals reads the leak signals since since.
func (s *Store) signals(ctx context.Context, since time.Time) ([]Signal, error) {
	rows, err := s.rdb.QueryContext(ctx, s.rebind(qSignals), append(anys(SignalActions), since)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := map[Action]int64{}
	for rows.Next() {
		var a string
		var n int64
		if err := rows.Scan(&a, &n); err != nil {
			return nil, err
		}
		got[Action(a)] = n
	}
	out := make([]Signal, len(SignalActions))
	for i, a := range SignalActions {
		out[i] = Signal{Action: a, Count: got[a]}
	}
	return out, rows.Err()
}

// DayCount is one day of the overview chart.
type DayCount struct {
	Day     time.Time
	Issued  int64 // tokens issued that day
	Revoked int64 // live tokens revoked that day (from the audit trail)
}

// OverviewDays is how many days the chart spans.
const OverviewDays = 30

// Overview reads what the overview page shows. The counts are exact and
// live: the writes keep them (see live_counts.go), and reading them is a
// few short index ranges whatever the size of the database. Tokens revoked
// per day are kept the same way, from the same revocations the audit trail
// records (which keeps every one even after a purge).
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
	o.Since = now.Add(-24 * time.Hour)
	var kept *liveCounts
	firsts := make([]*int64, OverviewDays+1)
	var maxID *int64
	jobs := []func() error{
		func() error {
			var err error
			kept, err = s.keptCounts(ctx, now, start)
			return err
		},
		func() error {
			var err error
			o.Signals, err = s.signals(ctx, o.Since)
			return err
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
	for i := range o.Days {
		o.Days[i].Revoked = kept.revokedByDay[o.Days[i].Day.Unix()]
	}
	o.ActiveAccess, o.ActiveRefresh, o.ActiveGrants = kept.access, kept.refresh, kept.grants
	o.Clients, o.Users = kept.clients, kept.users
	o.Revocations, o.RevokedTokens = kept.revocations, kept.revokedTokens
	return o, nil
}
