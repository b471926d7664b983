package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

// ErrNotTokenOwner is returned when a client asks to revoke a token issued
// to another client (RFC 7009 §2.1). The token stays valid; the attempt is
// audited, because it means the token leaked.
var ErrNotTokenOwner = errors.New("models: token was issued to another client")

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

	at time.Time // the demo seeds history; zero means now
}

// RevokeResult reports what a revocation did.
type RevokeResult struct {
	Grants int
	Tokens int
}

// unknownTokens counts revocation requests for tokens Latchkey never issued
// (or already purged): they write no audit event, so they are counted here.
var unknownTokens atomic.Int64

// UnknownTokenRevocations returns how many revocation requests named an
// unknown token since the process started.
func UnknownTokenRevocations() int64 { return unknownTokens.Load() }

// Revoke is the only code that sets revoked_at. It finds the target, revokes
// its whole grant(s) in one transaction — every access and refresh token in
// the chain (RFC 7009 §2.1) — writes one audit event and reports what it
// revoked. Revoking nothing (an unknown, expired or already revoked token)
// is not an error: RFC 7009 §2.2 answers 200 for it. A client revoking
// another client's token gets ErrNotTokenOwner, and the attempt is audited.
// A nil error means the revocation is committed to disk.
func (s *Store) Revoke(ctx context.Context, req RevokeRequest) (RevokeResult, error) {
	var res RevokeResult
	var refusal error
	err := s.write(ctx, func(tx *gorm.DB) error {
		var err error
		res, err = s.revokeTx(tx, req, req.at)
		if errors.Is(err, ErrNotTokenOwner) {
			refusal = err // the audit event must commit
			return nil
		}
		return err
	})
	if err != nil {
		return RevokeResult{}, wrapWrite("revoke", err)
	}
	return res, refusal
}

// revokeTx does a revocation inside tx; refresh-reuse and code-reuse
// detection call it inside their own transactions.
func (s *Store) revokeTx(tx *gorm.DB, req RevokeRequest, now time.Time) (RevokeResult, error) {
	if now.IsZero() {
		now = s.Now()
	}
	ev := AuditEvent{
		CreatedAt: now, ActorType: req.Actor.Type, Actor: req.Actor.Name, Action: req.Action,
		Reason: truncate(req.Reason, 500), RemoteAddr: req.Remote, RequestID: truncate(req.RequestID, 100),
	}
	if ev.ActorType == "" {
		ev.ActorType, ev.Actor = ActorSystem, "system"
	}
	// grants selects the grants to revoke, as a subquery.
	var grants *gorm.DB
	active := "revoked_at IS NULL AND expires_at > ?"
	switch {
	case req.Token != "":
		var t Token
		res := tx.Select("id", "grant_id", "client_id", "user_id", "type").
			Where("hash = ?", HashSecret(req.Token)).Limit(1).Find(&t)
		if res.Error != nil {
			return RevokeResult{}, res.Error
		}
		if res.RowsAffected == 0 {
			unknownTokens.Add(1)
			return RevokeResult{}, nil
		}
		ev.GrantID, ev.UserID, ev.ClientID = &t.GrantID, t.UserID, &t.ClientID
		if req.AsClient != nil && t.ClientID != req.AsClient.ID {
			ev.Action = ActionRevokeRefused
			if ev.Reason == "" {
				ev.Reason = "token was issued to another client"
			}
			if err := tx.Create(&ev).Error; err != nil {
				return RevokeResult{}, err
			}
			return RevokeResult{}, ErrNotTokenOwner
		}
		if ev.Action == "" {
			ev.Action = ActionRevokeToken
		}
		grants = tx.Table("grants").Select("id").Where("id = ? AND "+active, t.GrantID, now)
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
		grants = tx.Table("grants").Select("id").Where("id = ? AND "+active, g.ID, now)
	case req.UserID != 0:
		ev.UserID, ev.ClientID = &req.UserID, nonZero(req.ClientID)
		if ev.Action == "" {
			ev.Action = ActionRevokeUserGrants
		}
		grants = tx.Table("grants").Select("id").Where("user_id = ? AND "+active, req.UserID, now)
		if req.ClientID != 0 {
			grants = grants.Where("client_id = ?", req.ClientID)
		}
	case req.ClientID != 0:
		ev.ClientID = &req.ClientID
		if ev.Action == "" {
			ev.Action = ActionRevokeClient
		}
		grants = tx.Table("grants").Select("id").Where("client_id = ? AND "+active, req.ClientID, now)
	default:
		return RevokeResult{}, fmt.Errorf("%w: nothing selected to revoke", ErrInvalid)
	}

	// Tokens first: the subquery reads grants.revoked_at, which the next
	// statement sets. Tokens already expired or rotated away stay as they
	// are (they are dead already); the count is of live tokens revoked.
	toks := tx.Exec("UPDATE tokens SET revoked_at = ? WHERE grant_id IN (?) AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > ?",
		now, grants, now)
	if toks.Error != nil {
		return RevokeResult{}, toks.Error
	}
	gr := tx.Exec("UPDATE grants SET revoked_at = ? WHERE id IN (?)", now, grants)
	if gr.Error != nil {
		return RevokeResult{}, gr.Error
	}
	res := RevokeResult{Grants: int(gr.RowsAffected), Tokens: int(toks.RowsAffected)}
	if req.Token != "" && res.Grants == 0 {
		// An expired or already revoked token: nothing happened, so no
		// event (RFC 7009 §2.2 still answers 200).
		return res, nil
	}
	ev.Grants, ev.Tokens = res.Grants, res.Tokens
	if err := tx.Create(&ev).Error; err != nil {
		return RevokeResult{}, err
	}
	return res, nil
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
