package handlers

import (
	"errors"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
)

// meResponse is what /api/me tells a token's holder.
type meResponse struct {
	User     *string `json:"user"`
	ClientID string  `json:"client_id"`
	Scope    string  `json:"scope"`
}

// ShowMe is a protected resource, GET /api/me (RFC 6750): a valid bearer
// access token gets its user, client and scope; anything else gets 401
// with WWW-Authenticate: Bearer error="invalid_token".
func (h *Handler) ShowMe(c echo.Context) error {
	authz := c.Request().Header.Values(echo.HeaderAuthorization)
	if len(authz) == 0 {
		// §3.1: no credentials at all — no error code, just the challenge.
		return &OAuthError{Status: 401, Bearer: true, Description: "a bearer token is required"}
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(authz[0]), " ")
	tok = strings.TrimSpace(tok)
	if len(authz) == 1 && !strings.EqualFold(scheme, "Bearer") {
		// §3.1 again: "attempted using an unsupported authentication
		// method" is no authentication information for this resource.
		return &OAuthError{Status: 401, Bearer: true, Description: "a bearer token is required"}
	}
	if len(authz) > 1 || !ok || tok == "" {
		return ErrInvalidRequest.WithDescription("send the token as Authorization: Bearer <token>").withBearer()
	}
	info, err := h.store.ActiveToken(c.Request().Context(), tok)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return ErrInvalidToken.WithDescription("the access token is invalid, expired or revoked")
	case err != nil:
		return ErrTemporarilyUnavailable.Wrap(err)
	}
	if info.Token.Type != models.TokenTypeAccess {
		return ErrInvalidToken.WithDescription("the access token is invalid, expired or revoked")
	}
	h.store.TouchGrant(info.Token.GrantID, seen(c))
	out := meResponse{ClientID: info.ClientID, Scope: info.Token.Scope}
	if info.Username != "" {
		out.User = &info.Username
	}
	return writeJSON(c, 200, out)
}

func (e *OAuthError) withBearer() *OAuthError {
	c := *e
	c.Bearer = true
	return &c
}
