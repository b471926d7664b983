package handlers

import (
	"github.com/labstack/echo/v4"
)

// ShowSSFConfiguration is GET /.well-known/ssf-configuration: the OpenID
// Shared Signals Framework 1.0 §7 transmitter metadata.
func (h *Handler) ShowSSFConfiguration(c echo.Context) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=3600")
	return c.JSON(200, h.events.Configuration())
}

// ShowJWKS is GET /o/jwks/: the public keys that sign SETs, as an RFC 7517
// §5 JWK Set. A retired key stays listed until no SET signed with it can
// still be waiting to be verified (events.RetiredKeyTTL). Receivers fetch
// the set again when they meet a kid they do not know, so a short cache
// is enough.
func (h *Handler) ShowJWKS(c echo.Context) error {
	b, err := h.events.Keys().JWKS(c.Request().Context())
	if err != nil {
		return ErrTemporarilyUnavailable.Wrap(err)
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "public, max-age=300")
	return c.Blob(200, "application/jwk-set+json", b)
}
