package handlers

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
)

// PreflightRevoke answers a CORS preflight for /o/revoke_token/, so that a
// browser-based client can revoke its tokens on logout. A preflight carries no credentials, so it is allowed when any client
// lists the origin; the real request is then checked against its own
// client's list.
func (h *Handler) PreflightRevoke(c echo.Context) error {
	hdr := c.Response().Header()
	hdr.Set(echo.HeaderAllow, "POST, OPTIONS")
	hdr.Add(echo.HeaderVary, echo.HeaderOrigin)
	origin := c.Request().Header.Get(echo.HeaderOrigin)
	if origin == "" {
		return c.NoContent(http.StatusNoContent)
	}
	ok, err := h.store.OriginAllowed(c.Request().Context(), origin)
	if err != nil {
		return ErrTemporarilyUnavailable.Wrap(err)
	}
	if ok {
		hdr.Set(echo.HeaderAccessControlAllowOrigin, origin)
		hdr.Set(echo.HeaderAccessControlAllowMethods, "POST")
		hdr.Set(echo.HeaderAccessControlAllowHeaders, "Authorization, Content-Type")
		hdr.Set(echo.HeaderAccessControlMaxAge, "600")
	}
	return c.NoContent(http.StatusNoContent)
}

// allowOrigin adds Access-Control-Allow-Origin when the request's origin is
// one the authenticated client registered, and only then.
func allowOrigin(c echo.Context, client *models.Client) {
	origin := c.Request().Header.Get(echo.HeaderOrigin)
	h := c.Response().Header()
	if _, ok := h[echo.HeaderVary]; ok {
		h.Add(echo.HeaderVary, echo.HeaderOrigin)
	} else {
		h[echo.HeaderVary] = varyOrigin
	}
	if origin != "" && slices.Contains(client.OriginList(), origin) {
		h.Set(echo.HeaderAccessControlAllowOrigin, origin)
	}
}
