package handlers

import (
	"errors"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/internal/jsonenc"
	"github.com/latchkey/latchkey/models"
)

// introspection is RFC 7662 §2.2's response. Inactive tokens answer only
// {"active": false}.
type introspection struct {
	Active    bool   `json:"active"`
	TokenType string `json:"token_type,omitempty"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Iss       string `json:"iss,omitempty"`
	// Sid is the grant's public id, the session that revocation events
	// name, so a resource server can match an event to what it cached.
	Sid string `json:"sid,omitempty"`
}

// IntrospectToken is RFC 7662, POST /o/introspect/. The caller
// authenticates as a client, or with a bearer access token of a resource
// server (see authenticateIntrospector). A client created with
// --introspect (a resource server) may introspect any access token; any
// other client only its own — another client's token is reported inactive,
// so a client cannot probe tokens it does not hold.
//
// A refresh token is active only to the client it was issued to. Resource
// servers that ignore token_type, as django-oauth-toolkit does, would
// otherwise accept a refresh token as a bearer token, and cache that
// answer until the refresh token's exp, 30 days away.
func (h *Handler) IntrospectToken(c echo.Context) error {
	form, err := parseOAuthForm(c)
	if err != nil {
		return err
	}
	client, callerGrant, err := h.authenticateIntrospector(c, form)
	if err != nil {
		return err
	}
	if client.IsPublic() {
		// RFC 7662 §2.1: the caller must be authorized; a public client's
		// identifier is no credential.
		return ErrInvalidClient.WithDescription("public clients cannot use introspection")
	}
	if callerGrant != 0 {
		h.store.TouchGrant(callerGrant, seen(c)) // the resource server, with its own token
	}
	tok := form.Get("token")
	if tok == "" {
		return ErrInvalidRequest.WithDescription("token is required")
	}
	info, err := h.store.ActiveToken(c.Request().Context(), tok)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return writeJSON(c, 200, introspection{Active: false})
	case err != nil:
		return ErrTemporarilyUnavailable.Wrap(err)
	}
	own := info.Token.ClientID == client.ID
	if !own && (!client.Introspect || info.Token.Type == models.TokenTypeRefresh) {
		return writeJSON(c, 200, introspection{Active: false})
	}
	// A use, but not a sighting: the caller is the resource server, not
	// the token's holder, so its address says nothing about the grant.
	h.store.TouchGrant(info.Token.GrantID, models.Seen{})
	out := introspection{
		Active: true, TokenType: tokenTypeName(info.Token.Type), Scope: info.Token.Scope, ClientID: info.ClientID,
		Username: info.Username, Exp: info.Token.ExpiresAt.Unix(), Iat: info.Token.CreatedAt.Unix(), Iss: h.cfg.Issuer,
		Sid: info.GrantPublicID,
	}
	out.Sub = info.Username
	if out.Sub == "" {
		out.Sub = info.ClientID // client_credentials: the client is the subject
	}
	return writePooledJSON(c, 200, out.appendJSON)
}

// appendJSON appends the answer as encoding/json would write it, without
// reflection: this is the hottest answer Latchkey writes.
func (in *introspection) appendJSON(b []byte) []byte {
	b = append(b, `{"active":`...)
	b = strconv.AppendBool(b, in.Active)
	str := func(name, v string) {
		if v != "" {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = jsonenc.AppendString(b, v)
		}
	}
	num := func(name string, v int64) {
		if v != 0 {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = strconv.AppendInt(b, v, 10)
		}
	}
	str("token_type", in.TokenType)
	str("scope", in.Scope)
	str("client_id", in.ClientID)
	str("username", in.Username)
	str("sub", in.Sub)
	num("exp", in.Exp)
	num("iat", in.Iat)
	str("iss", in.Iss)
	str("sid", in.Sid)
	return append(b, "}\n"...)
}

// tokenTypeName is RFC 7662's token_type: the kind of token as the
// token endpoint issued it ("Bearer"), or refresh_token.
func tokenTypeName(t models.TokenType) string {
	if t == models.TokenTypeRefresh {
		return "refresh_token"
	}
	return "Bearer"
}
