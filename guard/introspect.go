package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Info is what Latchkey said about an active token (RFC 7662 §2.2).
type Info struct {
	Subject   string // sub: the username, or the client_id for client_credentials
	Username  string // empty for client_credentials tokens
	ClientID  string
	Scope     string
	SessionID string // sid: the grant, as revocation events name it
	Expiry    time.Time

	issuedAt time.Time // iat: which of a session's tokens is the newer
}

var (
	// ErrInvalidToken means the token is not active: unknown, expired,
	// revoked, or not an access token.
	ErrInvalidToken = errors.New("guard: the token is invalid, expired or revoked")
	// ErrUnavailable means Latchkey could not give an answer.
	ErrUnavailable = errors.New("guard: the authorization server cannot be reached")
)

// introspectTimeout bounds one introspection call, whoever waits on it.
const introspectTimeout = 10 * time.Second

// Check returns what Latchkey says about token: from the cache while the
// event stream is live, otherwise by introspection. Concurrent checks of
// the same token share one introspection call.
func (g *Guard) Check(ctx context.Context, token string) (Info, error) {
	k := tokenKey(sha256.Sum256([]byte(token)))
	if g.Healthy() {
		if info, ok := g.cache.get(k, g.now()); ok {
			return info, nil
		}
	}
	// The singleflight key is the hash too; the call outlives a caller
	// that gives up, so that the others sharing it still get an answer.
	ch := g.sf.DoChan(hex.EncodeToString(k[:]), func() (any, error) {
		epoch := g.cache.currentEpoch()
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), introspectTimeout)
		defer cancel()
		info, cacheable, err := g.introspect(c, token)
		if err == nil && cacheable {
			g.cache.put(k, info, epoch, g.now())
		}
		return info, err
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return Info{}, r.Err
		}
		return r.Val.(Info), nil
	case <-ctx.Done():
		return Info{}, ctx.Err()
	}
}

// introspection is RFC 7662 §2.2's response.
type introspection struct {
	Active    bool   `json:"active"`
	TokenType string `json:"token_type"`
	Scope     string `json:"scope"`
	ClientID  string `json:"client_id"`
	Username  string `json:"username"`
	Sub       string `json:"sub"`
	Exp       int64  `json:"exp"`
	Iss       string `json:"iss"`
	Sid       string `json:"sid"`
	Iat       int64  `json:"iat"`
}

// introspect asks Latchkey's introspection endpoint (RFC 7662 §2.1),
// authenticating with client_secret_basic (RFC 6749 §2.3.1: id and secret
// URL-encoded before Basic). It reports whether the answer may be cached:
// only an active one with an exp.
func (g *Guard) introspect(ctx context.Context, token string) (Info, bool, error) {
	meta, err := g.discover(ctx)
	if err != nil {
		g.log.Warn("guard: discovery failed", "error", err)
		return Info{}, false, ErrUnavailable
	}
	g.introspections.Add(1)
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, meta.IntrospectionEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return Info{}, false, ErrUnavailable
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(g.cfg.ClientID), url.QueryEscape(g.cfg.ClientSecret))
	// Introspection only reads, so it is safe to send twice. A nil
	// Idempotency-Key says so to net/http without sending the header: a
	// kept-alive connection the server closes as the request goes out is
	// then retried on a new one instead of failing the caller with 503.
	req.Header["Idempotency-Key"] = nil
	resp, err := g.hc.Do(req)
	if err != nil {
		// The error may quote the URL, never the body: no token in it.
		g.log.Warn("guard: introspection failed", "error", err)
		return Info{}, false, ErrUnavailable
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// 401 here means the guard's own credentials are wrong: a
		// misconfiguration, not the caller's fault.
		g.log.Error("guard: introspection refused", "status", resp.StatusCode)
		return Info{}, false, ErrUnavailable
	}
	var in introspection
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&in); err != nil {
		g.log.Warn("guard: introspection answer unreadable", "error", err)
		return Info{}, false, ErrUnavailable
	}
	return g.accept(in)
}

// accept turns an introspection answer into Info, refusing what a bearer
// token check must refuse.
func (g *Guard) accept(in introspection) (Info, bool, error) {
	now := g.now()
	switch {
	case !in.Active:
		return Info{}, false, ErrInvalidToken
	case in.TokenType != "" && !strings.EqualFold(in.TokenType, "Bearer"):
		// A refresh token is never a bearer credential at a resource.
		return Info{}, false, ErrInvalidToken
	case in.Iss != "" && strings.TrimRight(in.Iss, "/") != g.cfg.Issuer:
		return Info{}, false, ErrInvalidToken
	case in.Exp != 0 && !now.Before(time.Unix(in.Exp, 0)):
		return Info{}, false, ErrInvalidToken
	}
	info := Info{Subject: in.Sub, Username: in.Username, ClientID: in.ClientID, Scope: in.Scope, SessionID: in.Sid}
	if in.Iat != 0 {
		info.issuedAt = time.Unix(in.Iat, 0)
	}
	if in.Exp == 0 {
		// Without exp there is no bound to cache it under: ask each time.
		info.Expiry = now
		return info, false, nil
	}
	info.Expiry = time.Unix(in.Exp, 0)
	return info, true, nil
}
