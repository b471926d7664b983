package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// RevokeRequest selects what to revoke. Exactly one selector is used: Token
// (from a client, with Hint and AsClient), GrantID, UserID (optionally with
// ClientID), or ClientID alone.
type RevokeRequest struct {
	Token     string    // raw token from a client; hashed here, never logged
	Hint      TokenType // RFC 7009 token_type_hint; advisory
	AsClient  *Client   // set by /o/revoke_token/: enforces ownership
	GrantID   int64
	UserID    int64
	ClientID  int64
	Actor     Actor
	Action    Action // defaults from the selector
	Reason    string
	Remote    string
	RequestID string

	at     time.Time // the demo seeds history; zero means now
	target *Token    // the token Revoke found, for revokeTx
}

// RevokeResult reports what a revocation did.
type RevokeResult struct {
	Grants int
	Tokens int
}

// Revoke is the only code that sets revoked_at. It finds the target, revokes
// its whole grant(s) in one transaction — every access and refresh token in
// the chain (RFC 7009 §2.1) — writes one audit event and reports what it
// revoked. Revoking nothing (an unknown, expired or already revoked token)
// is not an error: RFC 7009 §2.2 answers 200 for it. A client revoking
// another client's token gets ErrNotTokenOwner, and the attempt is audited.
// A nil error means the revocation is committed to disk.
func (s *Store) Revoke(ctx context.Context, req RevokeRequest) (RevokeResult, error) {
	if req.Token != "" {
		// The token lookup and the ownership check are reads: they run on
		// the caller's goroutine against the read pool, so the single writer
		// only does the writes. A token's grant and client never change, and
		// the writes below re-check everything that can.
		var t Token
		err := s.readRow(ctx, qTokenOwner, HashSecret(req.Token)).
			Scan(&t.ID, &t.GrantID, &t.ClientID, &t.UserID)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			s.counters.countRevocation(revocationPath(req), OutcomeUnknown, RevokeResult{}, true)
			return RevokeResult{}, nil
		case err != nil:
			return RevokeResult{}, unavailable("revoke", err)
		}
		req.target = &t
		if req.AsClient != nil && t.ClientID != req.AsClient.ID {
			return RevokeResult{}, s.auditRefused(ctx, req)
		}
	}
	var res RevokeResult
	err := s.write(ctx, func(tx *gorm.DB) error {
		var err error
		res, err = s.revokeTx(tx, req, req.at)
		return err
	})
	if err != nil {
		// A committed revocation is counted by the writer; this one is not.
		s.counters.countRevocation(revocationPath(req), revokeOutcome(err), RevokeResult{}, req.Token != "")
		return RevokeResult{}, wrapWrite("revoke", err)
	}
	return res, nil
}

// auditRefused records a client's attempt to revoke another client's
// token (RFC 7009 §2.1 leaves the token alone) and returns
// ErrNotTokenOwner. The attempt means the token leaked, but one leaked
// token can be replayed at will, so repeats for the same client and grant
// within a minute fold into one event with a count (auditCoalesced): the
// trail stays readable and a flood costs no durable write per request.
func (s *Store) auditRefused(ctx context.Context, req RevokeRequest) error {
	t := req.target
	reason := req.Reason
	if reason == "" {
		reason = "token was issued to another client"
	}
	now := req.at
	if now.IsZero() {
		now = s.Now()
	}
	ev := AuditEvent{CreatedAt: now, ActorType: req.Actor.Type, Actor: req.Actor.Name, Action: ActionRevokeRefused,
		GrantID: &t.GrantID, UserID: t.UserID, ClientID: &t.ClientID,
		Reason: truncate(reason, 500), RemoteAddr: truncate(req.Remote, 100), RequestID: truncate(req.RequestID, 100)}
	if ev.ActorType == "" {
		ev.ActorType, ev.Actor = ActorSystem, "system"
	}
	if err := s.auditCoalesced(ctx, coalesceKey(ActionRevokeRefused, ev.Actor, "", t.GrantID), ev, ""); err != nil {
		s.counters.countRevocation(revocationPath(req), OutcomeError, RevokeResult{}, true)
		return err
	}
	s.counters.countRevocation(revocationPath(req), OutcomeRefused, RevokeResult{}, true)
	return ErrNotTokenOwner
}

// revokeTx does a revocation inside tx; refresh-reuse and code-reuse
// detection call it inside their own transactions.
func (s *Store) revokeTx(tx *gorm.DB, req RevokeRequest, now time.Time) (RevokeResult, error) {
	if now.IsZero() {
		now = s.Now()
	}
	ev := AuditEvent{
		CreatedAt: now, ActorType: req.Actor.Type, Actor: req.Actor.Name, Action: req.Action,
		Reason: truncate(req.Reason, 500), RemoteAddr: truncate(req.Remote, 100), RequestID: truncate(req.RequestID, 100),
	}
	if ev.ActorType == "" {
		ev.ActorType, ev.Actor = ActorSystem, "system"
	}
	if req.Token != "" && req.target == nil {
		var t Token
		res := tx.Select("id", "grant_id", "client_id", "user_id").Where("hash = ?", HashSecret(req.Token)).Limit(1).Find(&t)
		if res.Error != nil {
			return RevokeResult{}, res.Error
		}
		if res.RowsAffected == 0 {
			noteRevocation(tx, req, OutcomeUnknown, RevokeResult{})
			return RevokeResult{}, nil
		}
		req.target = &t
	}
	switch {
	case req.target != nil:
		t := req.target
		ev.GrantID, ev.UserID, ev.ClientID = &t.GrantID, t.UserID, &t.ClientID
		if req.AsClient != nil && t.ClientID != req.AsClient.ID {
			ev.Action = ActionRevokeRefused
			if ev.Reason == "" {
				ev.Reason = "token was issued to another client"
			}
			noteRevocation(tx, req, OutcomeRefused, RevokeResult{})
			return RevokeResult{}, s.insertAudit(tx, &ev)
		}
		if ev.Action == "" {
			ev.Action = ActionRevokeToken
		}
		res, err := s.revokeGrantTx(tx, t.GrantID, now)
		if err != nil {
			return res, err
		}
		if res.Grants == 0 {
			// An expired or already revoked token: nothing happened, so no
			// event (RFC 7009 §2.2 still answers 200).
			noteRevocation(tx, req, OutcomeNothing, res)
			return res, nil
		}
		noteRevocation(tx, req, OutcomeRevoked, res)
		ev.Grants, ev.Tokens = res.Grants, res.Tokens
		return res, s.insertAudit(tx, &ev)
	case req.GrantID != 0:
		var g Grant
		res := tx.Select("id", "client_id", "user_id").Where("id = ?", req.GrantID).Limit(1).Find(&g)
		if res.Error != nil {
			return RevokeResult{}, res.Error
		}
		if res.RowsAffected == 0 {
			return RevokeResult{}, fmt.Errorf("%w: grant %d", ErrNotFound, req.GrantID)
		}
		ev.GrantID, ev.UserID, ev.ClientID = &g.ID, g.UserID, &g.ClientID
		if ev.Action == "" {
			ev.Action = ActionRevokeGrant
		}
		out, err := s.revokeGrantTx(tx, g.ID, now)
		if err != nil {
			return RevokeResult{}, err
		}
		noteRevocation(tx, req, outcomeOf(out), out)
		if out.Grants == 0 && (ev.Action == ActionRefreshReuse || ev.Action == ActionCodeReuse) {
			// A replay against a grant already revoked: the first event
			// said it all, and a replayer must not be able to fill the
			// audit trail.
			return out, nil
		}
		ev.Grants, ev.Tokens = out.Grants, out.Tokens
		return out, s.insertAudit(tx, &ev)
	case req.UserID != 0 || req.ClientID != 0:
		// Many grants: select them with a subquery, so that revoking a
		// client with a hundred thousand grants is two statements.
		active := "revoked_at IS NULL AND expires_at > ?"
		var grants *gorm.DB
		if req.UserID != 0 {
			ev.UserID, ev.ClientID = &req.UserID, nonZero(req.ClientID)
			if ev.Action == "" {
				ev.Action = ActionRevokeUserGrants
			}
			grants = tx.Table("grants").Select("id").Where("user_id = ? AND "+active, req.UserID, now)
			if req.ClientID != 0 {
				grants = grants.Where("client_id = ?", req.ClientID)
			}
		} else {
			ev.ClientID = &req.ClientID
			if ev.Action == "" {
				ev.Action = ActionRevokeClient
			}
			grants = tx.Table("grants").Select("id").Where("client_id = ? AND "+active, req.ClientID, now)
		}
		// Tokens first: the subquery reads grants.revoked_at, which the
		// next statement sets.
		toks := tx.Exec("UPDATE tokens SET revoked_at = ? WHERE grant_id IN (?) AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > ?",
			now, grants, now)
		if toks.Error != nil {
			return RevokeResult{}, toks.Error
		}
		gr := tx.Exec("UPDATE grants SET revoked_at = ? WHERE id IN (?)", now, grants)
		if gr.Error != nil {
			return RevokeResult{}, gr.Error
		}
		out := RevokeResult{Grants: int(gr.RowsAffected), Tokens: int(toks.RowsAffected)}
		noteRevocation(tx, req, outcomeOf(out), out)
		ev.Grants, ev.Tokens = out.Grants, out.Tokens
		return out, s.insertAudit(tx, &ev)
	}
	return RevokeResult{}, fmt.Errorf("%w: nothing selected to revoke", ErrInvalid)
}

// revokeGrantTx revokes one grant and its live tokens (RFC 7009 §2.1's
// cascade). Tokens already expired or rotated away stay as they are — they
// are dead already — so the count is of live tokens revoked. A grant that
// is already revoked or expired revokes nothing.
func (s *Store) revokeGrantTx(tx *gorm.DB, grantID int64, now time.Time) (RevokeResult, error) {
	g, err := s.exec(tx, qRevokeGrant, now, grantID, now)
	if err != nil || g == 0 {
		return RevokeResult{}, err
	}
	n, err := s.exec(tx, qRevokeGrantTokens, now, grantID, now)
	if err != nil {
		return RevokeResult{}, err
	}
	return RevokeResult{Grants: int(g), Tokens: int(n)}, nil
}

// qTokenOwner finds a token's grant and owner for Revoke.
const qTokenOwner = "SELECT id, grant_id, client_id, user_id FROM tokens WHERE hash = ?"

// The revocation statements, prepared once on the writer (hotStatements).
const (
	qRevokeGrant       = "UPDATE grants SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL AND expires_at > ?"
	qRevokeGrantTokens = "UPDATE tokens SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > ?"
)

// insertAudit writes one audit event.
func (s *Store) insertAudit(tx *gorm.DB, ev *AuditEvent) error {
	_, err := s.exec(tx, qInsertAudit,
		ev.CreatedAt, string(ev.ActorType), ev.Actor, string(ev.Action), ev.GrantID, ev.UserID, ev.ClientID,
		ev.Grants, ev.Tokens, ev.Reason, ev.RemoteAddr, ev.RequestID)
	return err
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
