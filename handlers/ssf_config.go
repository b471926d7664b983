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
// still be waiting to be verified (events.RetiredKeyTTL). A new key signs
// within a second of `latchkey keys rotate`, and receivers fetch the set
// when they meet a kid they do not know, so no cache may keep an older
// set: no-cache (RFC 9111 §5.2.2.4) makes every cache ask again.
func (h *Handler) ShowJWKS(c echo.Context) error {
	b, err := h.events.Keys().JWKS(c.Request().Context())
	if err != nil {
		return ErrTemporarilyUnavailable.Wrap(err)
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-cache")
	return c.Blob(200, "application/jwk-set+json", b)
}
