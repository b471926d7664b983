package handlers

import (
	"errors"

	"github.com/labstack/echo/v4"
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
}

// IntrospectToken is RFC 7662, POST /o/introspect/. A client created with
// --introspect (a resource server) may introspect any token; any other
// client only its own — another client's token is reported inactive, so a
// client cannot probe tokens it does not hold.
func (h *Handler) IntrospectToken(c echo.Context) error {
	form, err := parseOAuthForm(c)
	if err != nil {
		return err
	}
	client, err := h.authenticateClient(c, form)
	if err != nil {
		return err
	}
	if client.IsPublic() {
		// RFC 7662 §2.1: the caller must be authorized; a public client's
		// identifier is no credential.
		return ErrInvalidClient.WithDescription("public clients cannot use introspection")
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
	if !client.Introspect && info.Token.ClientID != client.ID {
		return writeJSON(c, 200, introspection{Active: false})
	}
	h.store.TouchGrant(info.Token.GrantID)
	out := introspection{
		Active: true, TokenType: tokenTypeName(info.Token.Type), Scope: info.Token.Scope, ClientID: info.ClientID,
		Username: info.Username, Exp: info.Token.ExpiresAt.Unix(), Iat: info.Token.CreatedAt.Unix(), Iss: h.cfg.Issuer,
	}
	out.Sub = info.Username
	if out.Sub == "" {
		out.Sub = info.ClientID // client_credentials: the client is the subject
	}
	return writeJSON(c, 200, out)
}

// tokenTypeName is RFC 7662's token_type: the kind of token as the
// token endpoint issued it ("Bearer"), or refresh_token.
func tokenTypeName(t models.TokenType) string {
	if t == models.TokenTypeRefresh {
		return "refresh_token"
	}
	return "Bearer"
}
