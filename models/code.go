package models

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Code is an authorization code (RFC 6749 §4.1.2): single use, 60 seconds,
// bound to its client, redirect URI and PKCE challenge. Only its hash is
// stored.
type Code struct {
	ID               int64
	Hash             []byte
	ClientID         int64
	UserID           int64
	RedirectURI      string
	RedirectURIGiven bool
	Scope            string
	CodeChallenge    string
	CreatedAt        time.Time
	ExpiresAt        time.Time
	UsedAt           *time.Time
	GrantID          *int64
}

// NewCode is what the consent page approved.
type NewCode struct {
	Client           *Client
	UserID           int64
	RedirectURI      string
	RedirectURIGiven bool   // RFC 6749 §4.1.3: then the token request must repeat it
	Scope            string // already resolved
	CodeChallenge    string // S256 challenge, empty if none
	TTL              time.Duration
}

// CreateCode stores an authorization code and returns its raw value.
func (s *Store) CreateCode(ctx context.Context, n NewCode) (string, error) {
	raw := NewSecret(PrefixCode)
	ttl := n.TTL
	if ttl <= 0 {
		ttl = DefaultTTLs.Code
	}
	now := s.Now()
	c := &Code{
		Hash: HashSecret(raw), ClientID: n.Client.ID, UserID: n.UserID, RedirectURI: n.RedirectURI,
		RedirectURIGiven: n.RedirectURIGiven, Scope: n.Scope, CodeChallenge: n.CodeChallenge,
		CreatedAt: now, ExpiresAt: now.Add(ttl),
	}
	if err := s.write(ctx, func(tx *gorm.DB) error { return create(tx, c) }); err != nil {
		return "", wrapWrite("create code", err)
	}
	return raw, nil
}

// ExchangeCode is a token request with grant_type=authorization_code.
type ExchangeCode struct {
	Client           *Client
	Code             string
	RedirectURI      string
	RedirectURIGiven bool
	CodeVerifier     string
	TTLs             TTLs
	Remote           string
	UserAgent        string // recorded on the grant with Remote
	RequestID        string
}

// S256 is RFC 7636 §4.2's code challenge of a verifier.
func S256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// ExchangeCode trades a code for tokens (RFC 6749 §4.1.3, RFC 7636 §4.6).
// A code presented a second time revokes the grant it produced (RFC 6749
// §4.1.2: "the authorization server SHOULD revoke … all tokens previously
// issued based on that authorization code").
func (s *Store) ExchangeCode(ctx context.Context, x ExchangeCode) (*Issued, error) {
	var out *Issued
	var refusal error
	err := s.write(ctx, func(tx *gorm.DB) error {
		out, refusal = nil, nil // afresh on every run: the writer may run this twice
		now := s.Now()
		var c Code
		res := tx.Select("id", "hash", "client_id", "user_id", "redirect_uri", "redirect_uri_given", "scope",
			"code_challenge", "created_at", "expires_at", "used_at", "grant_id").
			Where("hash = ?", HashSecret(x.Code)).Limit(1).Find(&c)
		if res.Error != nil {
			return res.Error
		}
		switch {
		case res.RowsAffected == 0:
			refusal = fmt.Errorf("%w: unknown code", ErrInvalidGrant)
		case c.ClientID != x.Client.ID:
			refusal = fmt.Errorf("%w: code was issued to another client", ErrInvalidGrant)
		case c.UsedAt != nil:
			refusal = fmt.Errorf("%w: code was already used", ErrInvalidGrant)
			if c.GrantID != nil {
				_, err := s.revokeTx(tx, RevokeRequest{GrantID: *c.GrantID, Actor: System(), Action: ActionCodeReuse,
					Reason: "authorization code reuse", Remote: x.Remote, RequestID: x.RequestID}, nil)
				return err
			}
		case !now.Before(c.ExpiresAt):
			refusal = fmt.Errorf("%w: code has expired", ErrInvalidGrant)
		case c.RedirectURIGiven && (!x.RedirectURIGiven || x.RedirectURI != c.RedirectURI):
			refusal = fmt.Errorf("%w: redirect_uri does not match the authorization request", ErrInvalidGrant)
		case !c.RedirectURIGiven && x.RedirectURIGiven && x.RedirectURI != c.RedirectURI:
			refusal = fmt.Errorf("%w: redirect_uri does not match the authorization request", ErrInvalidGrant)
		case c.CodeChallenge == "" && x.CodeVerifier != "":
			// RFC 9700 §2.1.1: a verifier without a challenge is refused.
			refusal = fmt.Errorf("%w: code_verifier given but the authorization request had no code_challenge", ErrInvalidGrant)
		case c.CodeChallenge != "" && subtle.ConstantTimeCompare([]byte(S256(x.CodeVerifier)), []byte(c.CodeChallenge)) != 1:
			refusal = fmt.Errorf("%w: code_verifier does not match the code_challenge", ErrInvalidGrant)
		}
		if refusal != nil {
			return nil
		}
		// The consent was for the client's scopes of a minute ago; an
		// administrator may have narrowed them since.
		scope, err := currentClientScopeTx(tx, c.ClientID, c.Scope)
		if err != nil {
			return err
		}
		if len(scope) == 0 {
			refusal = fmt.Errorf("%w: none of the code's scopes is still allowed for the client", ErrInvalidScope)
			return nil
		}
		out, err = s.issueGrantTx(tx, StartGrant{
			Client: x.Client, UserID: c.UserID, GrantType: GrantAuthorizationCode, Scope: scope.String(),
			WithRefresh: x.Client.Allows(GrantRefreshToken), TTLs: x.TTLs, Seen: Seen{Addr: x.Remote, UserAgent: x.UserAgent},
		}, now)
		if err != nil {
			return err
		}
		// The conditional update is what makes a code single-use when two
		// exchanges race (PostgreSQL runs them concurrently): the loser
		// updates nothing, and its error rolls back the grant it issued.
		upd := tx.Exec("UPDATE codes SET used_at = ?, grant_id = ? WHERE id = ? AND used_at IS NULL", now, out.GrantID, c.ID)
		if upd.Error != nil {
			return upd.Error
		}
		if upd.RowsAffected != 1 {
			return fmt.Errorf("%w: code was already used", ErrInvalidGrant)
		}
		return nil
	})
	if err != nil {
		return nil, wrapWrite("exchange code", err)
	}
	if refusal != nil {
		return nil, refusal
	}
	return out, nil
}

// qRotateAccess retires a grant's access tokens at a refresh, returning
// their expiries for the live counts.
const qRotateAccess = "UPDATE tokens SET rotated_at = ? WHERE grant_id = ? AND type = ? AND rotated_at IS NULL AND revoked_at IS NULL RETURNING expires_at"

// RefreshGrant is a token request with grant_type=refresh_token.
type RefreshGrant struct {
	Client       *Client
	RefreshToken string
	Scope        string // empty keeps the grant's scope
	TTLs         TTLs
	Remote       string
	UserAgent    string // recorded on the grant as its last sighting, with Remote
	RequestID    string
}

// Refresh rotates a refresh token (RFC 6749 §6, RFC 9700 §4.14.2): the grant
// gets a new access token and a new refresh token; the presented refresh
// token and every access token issued before stop working. A refresh token
// presented after it was rotated means it was stolen or replayed: the whole
// grant is revoked through the revocation core, reason "refresh token reuse".
func (s *Store) Refresh(ctx context.Context, r RefreshGrant) (*Issued, error) {
	var out *Issued
	var refusal error
	err := s.write(ctx, func(tx *gorm.DB) error {
		out, refusal = nil, nil // afresh on every run: the writer may run this twice
		now := s.Now()
		var t Token
		res := tx.Select(tokenColumns).Where("hash = ?", TokenKey(r.RefreshToken)).Limit(1).Find(&t)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 || t.Type != TokenTypeRefresh {
			refusal = fmt.Errorf("%w: unknown refresh token", ErrInvalidGrant)
			return nil
		}
		if t.ClientID != r.Client.ID {
			refusal = fmt.Errorf("%w: refresh token was issued to another client", ErrInvalidGrant)
			return nil
		}
		if t.RevokedAt != nil {
			refusal = fmt.Errorf("%w: refresh token was revoked", ErrInvalidGrant)
			return nil
		}
		if t.RotatedAt != nil {
			refusal = fmt.Errorf("%w: refresh token was already used", ErrInvalidGrant)
			_, err := s.revokeTx(tx, RevokeRequest{GrantID: t.GrantID, Actor: System(), Action: ActionRefreshReuse,
				Reason: "refresh token reuse", Remote: r.Remote, RequestID: r.RequestID}, nil)
			return err
		}
		if !now.Before(t.ExpiresAt) {
			refusal = fmt.Errorf("%w: refresh token has expired", ErrInvalidGrant)
			return nil
		}
		var g Grant
		if err := tx.Select("id", "client_id", "user_id", "grant_type", "scope", "created_at", "expires_at", "last_used_at", "revoked_at").
			Where("id = ?", t.GrantID).Take(&g).Error; err != nil {
			return err
		}
		if g.RevokedAt != nil {
			// The grant was revoked while this token escaped the cascade
			// (a refresh racing the revocation on PostgreSQL): the grant
			// decides, not the token.
			refusal = fmt.Errorf("%w: the grant was revoked", ErrInvalidGrant)
			return nil
		}
		// Against the presented token's scope, not the grant's first one: a
		// refresh may narrow the scope, never widen it back (RFC 6749 §6).
		// And against what the client may ask for now: a grant issued before
		// an administrator narrowed the client's scopes loses the withdrawn
		// ones at its next refresh. Nothing left is invalid_scope (§5.2).
		allowed, err := currentClientScopeTx(tx, t.ClientID, t.Scope)
		if err != nil {
			return err
		}
		if len(allowed) == 0 {
			refusal = fmt.Errorf("%w: none of the grant's scopes is still allowed for the client", ErrInvalidScope)
			return nil
		}
		scope, err := ResolveScope(r.Scope, allowed.String())
		if err != nil {
			refusal = err
			return nil
		}
		// Retire the presented refresh token and every access token issued
		// before it. Rotation is not revocation: the grant lives on.
		upd := tx.Exec("UPDATE tokens SET rotated_at = ? WHERE id = ? AND rotated_at IS NULL AND revoked_at IS NULL", now, t.ID)
		if upd.Error != nil {
			return upd.Error
		}
		if upd.RowsAffected != 1 {
			refusal = fmt.Errorf("%w: refresh token was already used", ErrInvalidGrant)
			return nil
		}
		if err := s.countLive(tx, countRefresh, t.ExpiresAt, -1); err != nil {
			return err
		}
		// Each access token retired leaves the live count of its expiry.
		rows, err := s.query(tx, qRotateAccess, now, g.ID, TokenTypeAccess)
		if err != nil {
			return err
		}
		if _, _, err := s.countReturned(tx, rows, countAccess); err != nil {
			return err
		}
		ttl := r.TTLs.withDefaults()
		out, err = s.issueTokensTx(tx, &g, scope, &t.ID, true, ttl, now)
		if err != nil {
			return err
		}
		exp := now.Add(max(ttl.Access, ttl.Refresh))
		if g.RevokedAt == nil { // a live grant moves to its new expiry's bucket
			if err := s.countLive(tx, countGrant, g.ExpiresAt, -1); err != nil {
				return err
			}
			if err := s.countLive(tx, countGrant, exp, 1); err != nil {
				return err
			}
		}
		// A refresh is a use by the holder itself: it moves the last use
		// and where the grant was last seen, in the same statement.
		seen := Seen{Addr: r.Remote, UserAgent: r.UserAgent}.clean()
		return tx.Exec("UPDATE grants SET expires_at = ?, last_used_at = ?, last_seen_at = ?, last_seen_addr = ?, last_seen_ua = ? WHERE id = ?",
			exp, now, now, seen.Addr, seen.UserAgent, g.ID).Error
	})
	if err != nil {
		return nil, wrapWrite("refresh", err)
	}
	if refusal != nil {
		return nil, refusal
	}
	return out, nil
}
