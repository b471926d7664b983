package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// ActorType says who did something recorded in the audit trail.
type ActorType string

// The actor types.
const (
	ActorClient ActorType = "client"
	ActorStaff  ActorType = "staff"
	ActorUser   ActorType = "user"
	ActorSystem ActorType = "system"
)

// Actor is who asked for a revocation or staff action.
type Actor struct {
	Type ActorType
	Name string // client_id, username, or "system"
}

// AsClient is a client acting for itself (the RFC 7009 endpoint).
func AsClient(c *Client) Actor { return Actor{Type: ActorClient, Name: c.ClientID} }

// Staff is a staff member acting on the dashboard or the command line.
func Staff(u *User) Actor { return Actor{Type: ActorStaff, Name: u.Username} }

// EndUser is a user acting on their own authorizations.
func EndUser(u *User) Actor { return Actor{Type: ActorUser, Name: u.Username} }

// System is Latchkey acting on its own (reuse detection).
func System() Actor { return Actor{Type: ActorSystem, Name: "system"} }

// CLI is the command line run by the operating-system user osUser, named
// "cli:<user>". Its type is system: a shell on the server is not a
// dashboard account. The colon cannot occur in a username or a client_id,
// so the name never reads as either.
func CLI(osUser string) Actor { return Actor{Type: ActorSystem, Name: "cli:" + osUser} }

// Action names what an audit event records.
type Action string

// The audited actions.
const (
	ActionRevokeToken      Action = "token.revoke"
	ActionRevokeRefused    Action = "token.revoke_refused"
	ActionRevokeGrant      Action = "grant.revoke"
	ActionRevokeUserGrants Action = "user.revoke_grants"
	ActionRevokeClient     Action = "client.revoke_tokens"
	ActionRevokeMatching   Action = "grants.revoke_matching" // a mass revocation by scope, grant type or time
	ActionRefreshReuse     Action = "refresh_token.reuse"
	ActionCodeReuse        Action = "code.reuse"
	ActionClientCreate     Action = "client.create"
	ActionClientRotate     Action = "client.rotate_secret"
	ActionClientDisable    Action = "client.disable"
	ActionUserCreate       Action = "user.create"
	ActionClientUpdate     Action = "client.update"
	ActionUserUpdate       Action = "user.update"
	ActionUserDisable      Action = "user.disable"
	ActionUserEnable       Action = "user.enable"
	ActionLoginFailure     Action = "login.failure"
	ActionLoginThrottled   Action = "login.throttled"
	ActionStaffLogin       Action = "login.staff"
)

// AuditEvent is one line of the audit trail. It never holds a token or a
// secret: targets are row ids, and the actor is a public name.
type AuditEvent struct {
	ID         int64
	CreatedAt  time.Time
	ActorType  ActorType
	Actor      string
	Action     Action
	GrantID    *int64
	UserID     *int64
	ClientID   *int64
	Grants     int
	Tokens     int
	Reason     string
	RemoteAddr string
	RequestID  string
	// Count is how many occurrences the event stands for: repeats of a
	// failed or throttled login, or of a refused revocation, within a
	// minute are folded into the first one's row (see auditCoalesced).
	Count int `gorm:"default:1"`
}

// newAuditEvent is the one builder of audit events: who did action at
// now, why, from where, within which request. The free texts are cut to
// their columns' sizes; an unnamed actor is the system.
func newAuditEvent(a Actor, action Action, reason, remote, requestID string, now time.Time) AuditEvent {
	ev := AuditEvent{CreatedAt: now, ActorType: a.Type, Actor: a.Name, Action: action,
		Reason: truncate(reason, 500), RemoteAddr: truncate(remote, 100), RequestID: truncate(requestID, 100)}
	if ev.ActorType == "" {
		ev.ActorType, ev.Actor = ActorSystem, "system"
	}
	return ev
}

// insertAudit writes an audit event, inside a write. (A batch's token
// revocations write theirs together: insertAudits on SQLite,
// qRevokeTokensPostgres on PostgreSQL.)
func (s *Store) insertAudit(tx *gorm.DB, ev *AuditEvent) error {
	_, err := s.exec(tx, qInsertAudit, auditArgs(make([]any, 0, 12), ev)...)
	return err
}

// auditColumnsInsert are the columns an INSERT of audit events sets, in
// the order of auditArgs.
const auditColumnsInsert = "created_at, actor_type, actor, action, grant_id, user_id, client_id, grants, tokens, reason, remote_addr, request_id"

// auditChunk bounds the rows of one multi-row INSERT of audit events (12
// parameters each, well within SQLite's limit).
const auditChunk = 64

// qInsertAudits are INSERTs of audit events on SQLite, one for each power
// of two of rows up to auditChunk (one row is qInsertAudit): a batch of
// any size is written as a few of them (pow2Runs), so they are prepared
// once (hotStatements).
//
// OR FAIL: a multi-row INSERT that can abort half-way makes SQLite keep a
// statement journal, the pages' old contents, to undo the statement's own
// rows; past 64 KiB it spills to a temporary file, kept for the rest of
// the transaction. The writer never needs that undo: any error rolls the
// whole transaction back (batcher.runTogether). With plain INSERT,
// BenchmarkRevoke wrote 10.5–10.8 KB per revocation instead of 7.9–8.1.
var (
	qInsertAudits   = map[int]string{1: qInsertAudit}
	auditStatements = func() []string {
		var out []string
		for n := 2; n <= auditChunk; n *= 2 {
			qInsertAudits[n] = "INSERT OR FAIL INTO audit_events (" + auditColumnsInsert + ") VALUES " + placeholders(n, 12)
			out = append(out, qInsertAudits[n])
		}
		return out
	}()
)

func auditArgs(args []any, ev *AuditEvent) []any {
	return append(args, ev.CreatedAt, string(ev.ActorType), ev.Actor, string(ev.Action), ev.GrantID, ev.UserID, ev.ClientID,
		ev.Grants, ev.Tokens, ev.Reason, ev.RemoteAddr, ev.RequestID)
}

// insertAudits writes evs, inside a write on SQLite, in their order (so
// their ids follow it), as a few multi-row INSERTs: the revocations of a
// group commit write their events together. Only for the writer, where any
// error rolls the whole transaction back: OR FAIL leaves a failed
// statement's earlier rows in place. In a profile of the server
// under revocation load at c=256, one INSERT per event was 12 % of the
// server's CPU time, and 8.7 % written this way: the rest is SQLite's own
// work on each row and its index entries.
func (s *Store) insertAudits(tx *gorm.DB, evs []AuditEvent) error {
	if len(evs) == 0 {
		return nil
	}
	args := make([]any, 0, 12*min(len(evs), auditChunk))
	rest := evs
	for _, n := range pow2Runs(len(evs), auditChunk) {
		args = args[:0]
		for i := range rest[:n] {
			args = auditArgs(args, &rest[i])
		}
		rest = rest[n:]
		if _, err := s.exec(tx, qInsertAudits[n], args...); err != nil {
			return err
		}
	}
	return nil
}

func nonZero(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}

// AuditFilter narrows the audit trail.
type AuditFilter struct {
	Actor    string
	Action   Action
	UserID   int64
	ClientID int64
	From, To time.Time // zero means unbounded
}

var auditColumns = []string{"id", "created_at", "actor_type", "actor", "action", "grant_id", "user_id", "client_id",
	"grants", "tokens", "reason", "remote_addr", "request_id", "count"}

// AuditEvents lists audit events, newest first, with keyset pagination.
func (s *Store) AuditEvents(ctx context.Context, f AuditFilter, cur Cursor, limit int) (Page[AuditEvent], error) {
	limit = clampLimit(limit)
	q := s.r.WithContext(ctx).Model(&AuditEvent{}).Select(auditColumns)
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.UserID != 0 {
		q = q.Where("user_id = ?", f.UserID)
	}
	if f.ClientID != 0 {
		q = q.Where("client_id = ?", f.ClientID)
	}
	if !f.From.IsZero() {
		q = q.Where("created_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("created_at < ?", f.To.UTC())
	}
	if cur.Before > 0 {
		q = q.Where("id < ?", cur.Before)
	}
	var rows []AuditEvent
	if err := q.Order("id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return Page[AuditEvent]{}, unavailable("audit events", err)
	}
	return pageOf(rows, limit, func(e AuditEvent) int64 { return e.ID }), nil
}

// pageOf trims a limit+1 query result into a page.
func pageOf[T any](rows []T, limit int, id func(T) int64) Page[T] {
	p := Page[T]{Rows: rows}
	if len(rows) > limit {
		p.Rows = rows[:limit]
		p.HasNext = true
		p.Next = Cursor{Before: id(rows[limit-1])}
	}
	return p
}
