package handlers

import (
	"errors"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
)

// RevokeToken is the RFC 7009 revocation endpoint, POST /o/revoke_token/.
// Client authentication comes first (§2.1); then the token's whole grant is
// revoked through the one revocation core.
func (h *Handler) RevokeToken(c echo.Context) error {
	form, err := parseOAuthForm(c)
	if err != nil {
		return err
	}
	client, err := h.authenticateClient(c, form)
	if err != nil {
		return err
	}
	allowOrigin(c, client)
	tok := form.Get("token")
	if tok == "" {
		return ErrInvalidRequest.WithDescription("token is required")
	}
	// RFC 7009 §2.1: an unknown hint is ignored, not refused; the search
	// covers both types whatever the hint says.
	hint := models.TokenType(form.Get("token_type_hint"))
	if hint != models.TokenTypeAccess && hint != models.TokenTypeRefresh {
		hint = ""
	}
	_, err = h.store.Revoke(c.Request().Context(), models.RevokeRequest{
		Token: tok, Hint: hint, AsClient: client, Actor: models.AsClient(client),
		Reason: "client request", Remote: remote(c), RequestID: requestID(c),
	})
	switch {
	case errors.Is(err, models.ErrNotTokenOwner):
		// The core has already audited the attempt; the token stays valid.
		return ErrUnauthorizedClient.WithDescription("the token was not issued to this client")
	case err != nil:
		return ErrTemporarilyUnavailable.Wrap(err) // 503 + Retry-After, never 200
	}
	// §2.2: 200 for a revoked token and for an unknown, expired or already
	// revoked one alike — the client cannot learn which.
	noStore(c)
	return c.NoContent(200)
}
