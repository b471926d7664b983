package models

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// TokenFilter narrows the dashboard's token list. Zero fields do not filter.
type TokenFilter struct {
	UserID   int64
	ClientID int64
	GrantID  int64
	Type     TokenType
	Status   TokenStatus
}

// TokenRow is a token as the dashboard lists it: the token's own columns
// (never its hash), its client's and user's names and its grant's last use,
// read in one query.
type TokenRow struct {
	ID             int64
	Type           TokenType
	Hint           string
	GrantID        int64
	ClientID       int64
	UserID         *int64
	Scope          string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	RotatedAt      *time.Time
	RevokedAt      *time.Time
	ClientName     string
	ClientPublicID string
	Username       string // empty for client_credentials
	LastUsedAt     *time.Time
	GrantRevoked   bool
	// GrantContext is where the token's grant was issued from and last seen.
	GrantContext
}

// Status classifies the token at now, as Token.Status does.
func (r *TokenRow) Status(now time.Time) TokenStatus {
	t := Token{RevokedAt: r.RevokedAt, RotatedAt: r.RotatedAt, ExpiresAt: r.ExpiresAt}
	return t.Status(now)
}

// tokenRowSelect reads TokenRow. The tokens table drives the join (CROSS
// JOIN fixes SQLite's loop order; PostgreSQL plans as it likes), so the
// list walks an index in id order and stops after one page.
const tokenRowSelect = `SELECT t.id, t.type, t.hint, t.grant_id, t.client_id, t.user_id, t.scope, t.created_at,
 t.expires_at, t.rotated_at, t.revoked_at, c.name AS client_name, c.client_id AS client_public_id,
 COALESCE(u.username, '') AS username, g.last_used_at, (g.revoked_at IS NOT NULL) AS grant_revoked, ` + grantContextColumns + `
FROM tokens t CROSS JOIN grants g CROSS JOIN clients c LEFT JOIN users u ON u.id = t.user_id
WHERE g.id = t.grant_id AND c.id = t.client_id`

// ParseTokenStatus accepts the statuses a list can filter on; "" is any.
func ParseTokenStatus(s string) (TokenStatus, error) {
	switch st := TokenStatus(s); st {
	case "", StatusActive, StatusExpired, StatusRevoked, StatusRotated:
		return st, nil
	}
	return "", invalid("status", "Status must be active, expired, revoked or rotated.")
}

// ParseTokenType accepts the token types a list can filter on; "" is any.
func ParseTokenType(s string) (TokenType, error) {
	switch tt := TokenType(s); tt {
	case "", TokenTypeAccess, TokenTypeRefresh:
		return tt, nil
	}
	return "", invalid("type", "Type must be access_token or refresh_token.")
}

// noIndex keeps SQLite from answering a condition through an index (the
// unary + of https://sqlite.org/optoverview.html#disqualifying_where_clause_terms_using_unary_):
// a status condition matches a large share of the table, and walking its
// index would mean sorting all of it by id. Walking the id order and
// filtering stops after one page instead.
func (s *Store) noIndex(col string) string {
	if s.dialect == DialectSQLite {
		return "+" + col
	}
	return col
}

// tokenStatusCond is the SQL condition of a token status at now.
func (s *Store) tokenStatusCond(st TokenStatus, now time.Time) (string, []any) {
	rev, rot, exp := s.noIndex("t.revoked_at"), s.noIndex("t.rotated_at"), s.noIndex("t.expires_at")
	switch st {
	case StatusRevoked:
		return "t.revoked_at IS NOT NULL", nil // tokens_revoked_id, a partial index
	case StatusRotated:
		return rev + " IS NULL AND " + rot + " IS NOT NULL", nil
	case StatusExpired:
		return rev + " IS NULL AND " + rot + " IS NULL AND " + exp + " <= ?", []any{now}
	case StatusActive:
		return rev + " IS NULL AND " + rot + " IS NULL AND " + exp + " > ?", []any{now}
	}
	return "", nil
}

// ListTokens lists tokens, newest first, with keyset pagination: one query,
// names joined in, explicit columns, an index walked in id order.
func (s *Store) ListTokens(ctx context.Context, f TokenFilter, cur Cursor, limit int) (Page[TokenRow], error) {
	limit = clampLimit(limit)
	q, args := s.tokenListSQL(f, cur, limit)
	var rows []TokenRow
	if err := s.r.WithContext(ctx).Raw(q, args...).Scan(&rows).Error; err != nil {
		return Page[TokenRow]{}, unavailable("list tokens", err)
	}
	return pageOf(rows, limit, func(r TokenRow) int64 { return r.ID }), nil
}

func (s *Store) tokenListSQL(f TokenFilter, cur Cursor, limit int) (string, []any) {
	var b strings.Builder
	b.WriteString(tokenRowSelect)
	var args []any
	add := func(cond string, a ...any) {
		b.WriteString(" AND ")
		b.WriteString(cond)
		args = append(args, a...)
	}
	if f.UserID != 0 {
		add("t.user_id = ?", f.UserID)
	}
	if f.ClientID != 0 {
		add("t.client_id = ?", f.ClientID)
	}
	if f.GrantID != 0 {
		add("t.grant_id = ?", f.GrantID)
	}
	if f.Type != "" {
		add("t.type = ?", f.Type)
	}
	if cond, a := s.tokenStatusCond(f.Status, s.Now()); cond != "" {
		add(cond, a...)
	}
	if cur.Before > 0 {
		add("t.id < ?", cur.Before)
	}
	fmt.Fprintf(&b, " ORDER BY t.id DESC LIMIT %d", limit+1)
	return b.String(), args
}

// FindTokenRow finds a token by the key of its raw value (TokenKey),
// active or not — the dashboard's "paste a token" box. The raw value never
// reaches this function, so it cannot end up in a log.
func (s *Store) FindTokenRow(ctx context.Context, hash []byte) (*TokenRow, error) {
	var rows []TokenRow
	err := s.r.WithContext(ctx).Raw(tokenRowSelect+" AND t.hash = ? LIMIT 1", hash).Scan(&rows).Error
	if err != nil {
		return nil, unavailable("find token", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: token", ErrNotFound)
	}
	return &rows[0], nil
}

// TokenRowByID returns one token as the dashboard lists it.
func (s *Store) TokenRowByID(ctx context.Context, id int64) (*TokenRow, error) {
	var rows []TokenRow
	if err := s.r.WithContext(ctx).Raw(tokenRowSelect+" AND t.id = ? LIMIT 1", id).Scan(&rows).Error; err != nil {
		return nil, unavailable("token by id", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: token %d", ErrNotFound, id)
	}
	return &rows[0], nil
}
