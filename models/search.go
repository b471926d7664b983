package models

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// searchLimit is how many users and how many clients a search returns.
const searchLimit = 10

// SearchResult is what the dashboard's search box found for a name: users
// whose username starts with it, and clients whose client_id is it or
// whose name contains it. Exact matches come first and are flagged, so the
// caller can go straight to a single exact hit.
type SearchResult struct {
	Users        []UserRow
	Clients      []ClientRow
	ExactUser    *UserRow    // the user with exactly this username
	ExactClients []ClientRow // clients with exactly this client_id or name (any case)
}

// Search looks a typed name up among users and clients: two small
// queries, users over the unique username index (a prefix range, as
// ListUsers filters), clients over their few rows.
func (s *Store) Search(ctx context.Context, q string) (SearchResult, error) {
	var out SearchResult
	q = strings.TrimSpace(q)
	if q == "" {
		return out, nil
	}
	users, err := s.ListUsers(ctx, UserFilter{Prefix: q}, Cursor{}, searchLimit)
	if err != nil {
		return out, err
	}
	out.Users = users.Rows
	folded := FoldUsername(q)
	for i := range out.Users {
		if out.Users[i].Username == folded {
			out.ExactUser = &out.Users[i]
		}
	}
	like := "%" + likeEscaper.Replace(q) + "%"
	err = s.r.WithContext(ctx).Raw(`SELECT `+clientRowColumns+` FROM clients
 WHERE client_id = ? OR LOWER(name) LIKE LOWER(?) ESCAPE '\' ORDER BY id DESC LIMIT ?`, q, like, searchLimit).Scan(&out.Clients).Error
	if err != nil {
		return out, unavailable("search clients", err)
	}
	for _, c := range out.Clients {
		if c.ClientID == q || strings.EqualFold(c.Name, q) {
			out.ExactClients = append(out.ExactClients, c)
		}
	}
	return out, nil
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

const clientRowColumns = `id, client_id, name, type, secret_hint, grant_types, scope, introspect, disabled_at, created_at,
 redirect_uris, allowed_origins`

// ClientsByNameOrID resolves what was typed in a client filter: the client
// with exactly that client_id, else every client with that name in any
// case (several when the name is ambiguous). No match is ErrNotFound. It
// walks clients_client_id, then clients_name_lower.
func (s *Store) ClientsByNameOrID(ctx context.Context, typed string) ([]ClientRow, error) {
	typed = strings.TrimSpace(typed)
	var rows []ClientRow
	if storable(typed) {
		err := s.r.WithContext(ctx).Raw(`SELECT `+clientRowColumns+` FROM clients WHERE client_id = ? LIMIT 1`, typed).Scan(&rows).Error
		if err != nil {
			return nil, unavailable("client by name or id", err)
		}
		if len(rows) == 1 {
			return rows, nil
		}
	}
	err := s.r.WithContext(ctx).Raw(`SELECT `+clientRowColumns+` FROM clients WHERE LOWER(name) = LOWER(?) ORDER BY id DESC LIMIT ?`,
		typed, searchLimit).Scan(&rows).Error
	if err != nil {
		return nil, unavailable("client by name or id", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: client %q", ErrNotFound, typed)
	}
	return rows, nil
}

// clientNameTaken refuses a client name that another client already has,
// in any case: names are what staff type in filters and the search box,
// and two clients called "Acme Web" cannot be told apart there. except is
// the client being renamed (zero on create). It runs inside the write, so
// on SQLite's single writer two creates cannot both pass.
func clientNameTaken(tx *gorm.DB, name string, except int64) error {
	var other []struct {
		ClientID string
	}
	if err := tx.Raw("SELECT client_id FROM clients WHERE LOWER(name) = LOWER(?) AND id <> ? LIMIT 1",
		strings.TrimSpace(name), except).Scan(&other).Error; err != nil {
		return err
	}
	if len(other) > 0 {
		return invalid("name", "Another client is already named %q (client_id %s). Choose a name that tells them apart.",
			strings.TrimSpace(name), other[0].ClientID)
	}
	return nil
}

// Revocation is the audit event that revoked a grant: when, by whom and
// why, with the names of its targets.
type Revocation = AuditRow

// GrantRevocation returns the audit event that revoked a grant, or nil
// when the grant is not revoked or its event is gone. The revocation core
// stamps the grant's revoked_at and its event's created_at with the same
// instant, so one query finds it through audit_events_action_created
// (one lookup per revoking action): the event
// names the grant itself (one grant or token revoked, reuse detected), or
// its user or client (all of a user's or a client's grants, a disable), or
// nothing at all (a mass revocation at every client).
func (s *Store) GrantRevocation(ctx context.Context, grantID int64) (*Revocation, error) {
	rows, err := s.scanAudit(ctx, revocationSQL, grantID, revocationActions)
	if err != nil {
		return nil, unavailable("grant revocation", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

const revocationSQL = `SELECT e.id, e.created_at, e.actor_type, e.actor, e.action, e.grant_id, e.user_id, e.client_id,
 e.grants, e.tokens, e.reason, e.remote_addr, e.request_id, e.count,
 COALESCE(u.username, '') AS username, COALESCE(c.name, '') AS client_name, COALESCE(c.client_id, '') AS client_public_id,
 COALESCE(ac.name, '') AS actor_client_name
FROM grants g CROSS JOIN audit_events e LEFT JOIN users u ON u.id = e.user_id LEFT JOIN clients c ON c.id = e.client_id
 LEFT JOIN clients ac ON e.actor_type = 'client' AND ac.client_id = e.actor
WHERE g.id = ? AND e.created_at = g.revoked_at AND e.action IN ?
 AND (e.grant_id = g.id OR (e.grant_id IS NULL AND (e.user_id = g.user_id OR e.client_id = g.client_id))
  OR (e.action = '` + string(ActionRevokeMatching) + `' AND e.grant_id IS NULL AND e.user_id IS NULL AND e.client_id IS NULL))
ORDER BY e.id LIMIT 1`

// scanAudit reads AuditRow rows from a query that selects the columns of
// auditListSQL.
func (s *Store) scanAudit(ctx context.Context, q string, args ...any) ([]AuditRow, error) {
	rs, err := s.r.WithContext(ctx).Raw(q, args...).Rows()
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var rows []AuditRow
	for rs.Next() {
		var r AuditRow
		e := &r.AuditEvent
		if err := rs.Scan(&e.ID, &e.CreatedAt, &e.ActorType, &e.Actor, &e.Action, &e.GrantID, &e.UserID, &e.ClientID,
			&e.Grants, &e.Tokens, &e.Reason, &e.RemoteAddr, &e.RequestID, &e.Count, &r.Username, &r.ClientName,
			&r.ClientPublicID, &r.ActorClientName); err != nil {
			return nil, err
		}
		e.CreatedAt = e.CreatedAt.UTC()
		rows = append(rows, r)
	}
	return rows, rs.Err()
}

// ClientFilter narrows the client list: Query matches a client_id exactly
// or a name in part, in any case.
type ClientFilter struct {
	Query string
}

// ListClientsMatching lists clients, newest first, with keyset pagination
// on the primary key, each with its count of active grants and its last
// use, in one query: the count walks the client's grants through an
// index on client_id (a client with a hundred thousand grants costs
// milliseconds on its row), the last use is one seek in
// grants_client_used.
func (s *Store) ListClientsMatching(ctx context.Context, f ClientFilter, cur Cursor, limit int) (Page[ClientRow], error) {
	limit = clampLimit(limit)
	q, args := s.clientListSQL(f, cur, limit)
	rs, err := s.r.WithContext(ctx).Raw(q, args...).Rows()
	if err != nil {
		return Page[ClientRow]{}, unavailable("list clients", err)
	}
	defer rs.Close()
	var rows []ClientRow
	for rs.Next() {
		var r ClientRow
		var used any
		if err := rs.Scan(&r.ID, &r.ClientID, &r.Name, &r.Type, &r.SecretHint, &r.GrantTypes, &r.Scope, &r.Introspect, &r.SSF,
			&r.DisabledAt, &r.CreatedAt, &r.RedirectURIs, &r.AllowedOrigins, &r.ActiveGrants, &used); err != nil {
			return Page[ClientRow]{}, unavailable("list clients", err)
		}
		r.CreatedAt = r.CreatedAt.UTC()
		// SQLite's MAX of a DATETIME column comes back as text.
		if t := timeOf(used); !t.IsZero() {
			r.LastUsedAt = &t
		}
		rows = append(rows, r)
	}
	if err := rs.Err(); err != nil {
		return Page[ClientRow]{}, unavailable("list clients", err)
	}
	return pageOf(rows, limit, func(r ClientRow) int64 { return r.ID }), nil
}

func (s *Store) clientListSQL(f ClientFilter, cur Cursor, limit int) (string, []any) {
	q := `SELECT c.id, c.client_id, c.name, c.type, c.secret_hint, c.grant_types, c.scope, c.introspect, c.ssf, c.disabled_at, c.created_at,
 c.redirect_uris, c.allowed_origins,
 (SELECT COUNT(*) FROM grants g WHERE g.client_id = c.id AND g.revoked_at IS NULL AND g.expires_at > ?) AS active_grants,
 (SELECT MAX(g.last_used_at) FROM grants g WHERE g.client_id = c.id) AS last_used_at
FROM clients c WHERE 1 = 1`
	args := []any{s.Now()}
	if typed := strings.TrimSpace(f.Query); typed != "" {
		q += ` AND (c.client_id = ? OR LOWER(c.name) LIKE LOWER(?) ESCAPE '\')`
		args = append(args, typed, "%"+likeEscaper.Replace(typed)+"%")
	}
	if cur.Before > 0 {
		q += " AND c.id < ?"
		args = append(args, cur.Before)
	}
	return q + fmt.Sprintf(" ORDER BY c.id DESC LIMIT %d", limit+1), args
}

// GrantNames names a grant's user and client, for a confirmation that
// says whose access it ends.
type GrantNames struct {
	ID         int64
	ClientID   int64
	ClientName string
	Username   string // empty for client_credentials
}

// GrantNamesByID returns a grant's user and client names, revoked or not.
func (s *Store) GrantNamesByID(ctx context.Context, id int64) (*GrantNames, error) {
	var rows []GrantNames
	err := s.r.WithContext(ctx).Raw(`SELECT g.id, g.client_id, c.name AS client_name, COALESCE(u.username, '') AS username
FROM grants g CROSS JOIN clients c LEFT JOIN users u ON u.id = g.user_id WHERE g.id = ? AND c.id = g.client_id`, id).Scan(&rows).Error
	if err != nil {
		return nil, unavailable("grant names", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: grant %d", ErrNotFound, id)
	}
	return &rows[0], nil
}
