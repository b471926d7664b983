package handlers

import (
	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/components"
)

// ShowRevokeGrant asks before revoking one grant, naming whose access at
// which client it ends, and how many tokens it has.
func (h *Handler) ShowRevokeGrant(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	g, err := h.store.GrantNamesByID(ctx, id)
	if err != nil {
		return notFound(err, "grant")
	}
	preview, err := h.store.RevokePreview(ctx, models.RevokeRequest{GrantID: id})
	if err != nil {
		return err
	}
	return confirm(c, "Revoke grant", "tokens", components.ConfirmProps{
		Title: revokeGrantTitle(g), Lines: []string{willRevoke(preview)},
		Action: c.Request().URL.Path, ReturnTo: returnTo(c, "/admin/tokens"), Region: region(c),
		Reason: true, Submit: "Revoke grant", Danger: true,
	})
}

// RevokeGrant revokes one grant — every token in its chain — through the
// revocation core.
func (h *Handler) RevokeGrant(c echo.Context) error {
	id, err := idParam(c)
	if err != nil {
		return err
	}
	return h.revoke(c, "/admin/tokens", models.RevokeRequest{GrantID: id, Actor: models.Staff(UserFrom(c)), Reason: reason(c),
		Remote: remote(c), RequestID: requestID(c)})
}

// revokeGrantTitle names the user and the client a grant revocation
// affects: "Revoke alice's grant at Acme Web?".
func revokeGrantTitle(g *models.GrantNames) string {
	if g.Username == "" {
		return "Revoke " + g.ClientName + "'s own grant (client credentials)?"
	}
	return "Revoke " + g.Username + "'s grant at " + g.ClientName + "?"
}
