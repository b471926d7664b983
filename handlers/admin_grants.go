package handlers

import (
	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/components"
)

// ShowRevokeGrant asks before revoking one grant: how many tokens it has.
func (h *Handler) ShowRevokeGrant(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	preview, err := h.store.RevokePreview(c.Request().Context(), models.RevokeRequest{GrantID: id})
	if err != nil {
		return err
	}
	return confirm(c, "Revoke grant", components.ConfirmProps{
		Title: "Revoke grant " + c.Param("id") + "?", Lines: []string{willRevoke(preview)},
		Action: c.Request().URL.Path, ReturnTo: returnTo(c, "/admin/tokens"), Region: region(c),
		Reason: true, Submit: "Revoke", Danger: true,
	})
}

// RevokeGrant revokes one grant — every token in its chain — through the
// revocation core.
func (h *Handler) RevokeGrant(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	return h.revokeAndReturn(c, models.RevokeRequest{GrantID: id, Actor: models.Staff(UserFrom(c)), Reason: reason(c),
		Remote: remote(c), RequestID: requestID(c)}, "/admin/tokens")
}
