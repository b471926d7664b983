package models

import (
	"context"
	"fmt"
	"time"
)

// GrantRow is an active grant as the dashboard and the self-service page
// list it, with its client's and user's names.
type GrantRow struct {
	ID             int64
	ClientID       int64
	UserID         *int64
	GrantType      GrantType
	Scope          string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	LastUsedAt     *time.Time
	ClientName     string
	ClientPublicID string
	Username       string
	GrantContext
}

// grantContextColumns read GrantContext from grants g.
const grantContextColumns = "g.issued_addr, g.issued_ua, g.last_seen_at, g.last_seen_addr, g.last_seen_ua"

const grantRowSelect = `SELECT g.id, g.client_id, g.user_id, g.grant_type, g.scope, g.created_at, g.expires_at,
 g.last_used_at, c.name AS client_name, c.client_id AS client_public_id, COALESCE(u.username, '') AS username, ` + grantContextColumns + `
FROM grants g CROSS JOIN clients c LEFT JOIN users u ON u.id = g.user_id
WHERE c.id = g.client_id AND g.revoked_at IS NULL AND g.expires_at > ?`

// ActiveGrantsByUser lists a user's active grants, newest first; clientID,
// when not zero, keeps one client's. Walks grants_user_client.
func (s *Store) ActiveGrantsByUser(ctx context.Context, userID, clientID int64, cur Cursor, limit int) (Page[GrantRow], error) {
	q, args := grantRowSelect+" AND g.user_id = ?", []any{s.Now(), userID}
	if clientID != 0 {
		q += " AND g.client_id = ?"
		args = append(args, clientID)
	}
	return s.grantPage(ctx, "active grants by user", q, args, cur, limit)
}

// ActiveGrantsByClient lists a client's active grants, newest first. Walks
// grants_client.
func (s *Store) ActiveGrantsByClient(ctx context.Context, clientID int64, cur Cursor, limit int) (Page[GrantRow], error) {
	return s.grantPage(ctx, "active grants by client", grantRowSelect+" AND g.client_id = ?", []any{s.Now(), clientID}, cur, limit)
}

func (s *Store) grantPage(ctx context.Context, op, q string, args []any, cur Cursor, limit int) (Page[GrantRow], error) {
	limit = clampLimit(limit)
	if cur.Before > 0 {
		q += " AND g.id < ?"
		args = append(args, cur.Before)
	}
	q += fmt.Sprintf(" ORDER BY g.id DESC LIMIT %d", limit+1)
	var rows []GrantRow
	if err := s.r.WithContext(ctx).Raw(q, args...).Scan(&rows).Error; err != nil {
		return Page[GrantRow]{}, unavailable(op, err)
	}
	return pageOf(rows, limit, func(r GrantRow) int64 { return r.ID }), nil
}

// ClientGrants sums up a user's active grants at one client: what the
// self-service page shows per authorized application.
type ClientGrants struct {
	ClientID       int64
	ClientName     string
	ClientPublicID string
	Grants         int
	FirstIssued    time.Time
	LastIssued     time.Time
	LastUsedAt     *time.Time
	Scope          string // the newest grant's scope
}

// ActiveClientsByUser lists, per client, a user's active grants, by client
// row id descending with keyset pagination on it. One grouped query over
// grants_user_client; the client's name comes from a join.
func (s *Store) ActiveClientsByUser(ctx context.Context, userID int64, cur Cursor, limit int) (Page[ClientGrants], error) {
	limit = clampLimit(limit)
	args := []any{userID, s.Now()}
	q := `SELECT g.client_id, c.name AS client_name, c.client_id AS client_public_id, COUNT(*) AS grants,
 MIN(g.created_at) AS first_issued, MAX(g.created_at) AS last_issued, MAX(g.last_used_at) AS last_used_at,
 (SELECT g2.scope FROM grants g2 WHERE g2.user_id = g.user_id AND g2.client_id = g.client_id ORDER BY g2.id DESC LIMIT 1) AS scope
FROM grants g CROSS JOIN clients c
WHERE c.id = g.client_id AND g.user_id = ? AND g.revoked_at IS NULL AND g.expires_at > ?`
	if cur.Before > 0 {
		q += " AND g.client_id < ?"
		args = append(args, cur.Before)
	}
	q += fmt.Sprintf(" GROUP BY g.user_id, g.client_id, c.name, c.client_id ORDER BY g.client_id DESC LIMIT %d", limit+1)
	rs, err := s.r.WithContext(ctx).Raw(q, args...).Rows()
	if err != nil {
		return Page[ClientGrants]{}, unavailable("active clients by user", err)
	}
	defer rs.Close()
	var out []ClientGrants
	for rs.Next() {
		var r ClientGrants
		var first, last, used any
		if err := rs.Scan(&r.ClientID, &r.ClientName, &r.ClientPublicID, &r.Grants, &first, &last, &used, &r.Scope); err != nil {
			return Page[ClientGrants]{}, unavailable("active clients by user", err)
		}
		// SQLite's MIN and MAX of a DATETIME column come back as text.
		r.FirstIssued, r.LastIssued = timeOf(first), timeOf(last)
		if t := timeOf(used); !t.IsZero() {
			r.LastUsedAt = &t
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		return Page[ClientGrants]{}, unavailable("active clients by user", err)
	}
	return pageOf(out, limit, func(r ClientGrants) int64 { return r.ClientID }), nil
}

// timeOf reads a timestamp that an aggregate returned: a time.Time from
// PostgreSQL, text from SQLite.
func timeOf(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t.UTC()
	case string:
		return parseSQLiteTime(t)
	case []byte:
		return parseSQLiteTime(string(t))
	}
	return time.Time{}
}

func parseSQLiteTime(s string) time.Time {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02T15:04:05.999999999-07:00",
		"2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
