package models

import (
	"time"
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

// System is Latchkey acting on its own (reuse detection, the CLI).
func System() Actor { return Actor{Type: ActorSystem, Name: "system"} }

// Action names what an audit event records.
type Action string

// The audited actions.
const (
	ActionRevokeToken      Action = "token.revoke"
	ActionRevokeRefused    Action = "token.revoke_refused"
	ActionRevokeGrant      Action = "grant.revoke"
	ActionRevokeUserGrants Action = "user.revoke_grants"
	ActionRevokeClient     Action = "client.revoke_tokens"
	ActionRefreshReuse     Action = "refresh_token.reuse"
	ActionCodeReuse        Action = "code.reuse"
	ActionClientCreate     Action = "client.create"
	ActionClientRotate     Action = "client.rotate_secret"
	ActionClientDisable    Action = "client.disable"
	ActionUserCreate       Action = "user.create"
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
}

func ptr[T any](v T) *T { return &v }

func nonZero(v int64) *int64 {
	if v == 0 {
		return nil
	}
	return &v
}
