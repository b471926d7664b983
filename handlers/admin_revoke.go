package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/admin"
	"github.com/latchkey/latchkey/views/components"
)

// ShowMassRevoke is the mass revocation form: grants by scope, by grant
// type or issued before a time, at one client or all.
func (h *Handler) ShowMassRevoke(c echo.Context) error {
	return render(c, http.StatusOK, admin.MassRevokePage(admin.MassRevokePageProps{Shell: shell(c, "Mass revocation", "tokens"),
		Form: massForm(c)}))
}

// ShowConfirmMassRevoke asks before a mass revocation, with what it
// selects and its blast radius: grants, tokens and users. Criteria it
// cannot use send the form back with what to fix.
func (h *Handler) ShowConfirmMassRevoke(c echo.Context) error {
	form := massForm(c)
	ctx := c.Request().Context()
	req, where, err := h.massRequest(ctx, form)
	if err == nil {
		var preview models.RevokeResult
		if preview, err = h.store.RevokePreview(ctx, req); err == nil {
			return confirm(c, "Mass revocation", "tokens", components.ConfirmProps{
				Title: "Revoke every grant with " + req.Matching.String() + " " + where + "?",
				Lines: []string{willRevoke(preview), "They belong to " + components.Plural(int64(preview.Users), "user", "users") +
					" (grants of client credentials belong to none)."},
				Action: "/admin/revoke?" + massQuery(form), ReturnTo: "/admin/revoke",
				Reason: true, Submit: "Revoke matching grants", Danger: true,
			})
		}
	}
	if !errors.Is(err, models.ErrInvalid) {
		return err
	}
	return render(c, http.StatusUnprocessableEntity, admin.MassRevokePage(admin.MassRevokePageProps{
		Shell: shell(c, "Mass revocation", "tokens"), Form: form, Error: userMessage(err)}))
}

// MassRevoke revokes what the confirmation showed, through the revocation
// core, with the same criteria (carried in the form's URL).
func (h *Handler) MassRevoke(c echo.Context) error {
	return act(c, "client", "/admin/revoke", func(ctx context.Context) (outcome, error) {
		req, _, err := h.massRequest(ctx, massForm(c))
		if err != nil {
			return outcome{}, err
		}
		req.Actor, req.Reason, req.Remote, req.RequestID = models.Staff(UserFrom(c)), reason(c), remote(c), requestID(c)
		res, err := h.store.Revoke(ctx, req)
		return outcome{Flash: revokedMessage(res)}, err
	})
}

// massForm reads the criteria from the query (the form is a GET, the
// confirmation posts back to a URL carrying them).
func massForm(c echo.Context) admin.MassRevokeForm {
	q := c.QueryParams()
	return admin.MassRevokeForm{Client: q.Get("client"), Scope: q.Get("scope"), GrantType: q.Get("grant_type"),
		IssuedBefore: q.Get("issued_before")}
}

func massQuery(f admin.MassRevokeForm) string {
	q := url.Values{}
	for k, v := range map[string]string{"client": f.Client, "scope": f.Scope, "grant_type": f.GrantType, "issued_before": f.IssuedBefore} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

// massRequest turns the typed criteria into the core's selector, and says
// where it applies ("at Acme Web", "at every client").
func (h *Handler) massRequest(ctx context.Context, f admin.MassRevokeForm) (models.RevokeRequest, string, error) {
	m, err := models.ParseGrantMatch(f.Scope, f.GrantType, f.IssuedBefore)
	if err != nil {
		return models.RevokeRequest{}, "", err
	}
	_, clientID, err := h.filterIDs(ctx, "", f.Client)
	if err != nil {
		return models.RevokeRequest{}, "", err
	}
	where := "at every client"
	if clientID != 0 {
		cl, err := h.store.ClientByID(ctx, clientID)
		if err != nil {
			return models.RevokeRequest{}, "", err
		}
		where = fmt.Sprintf("at %s", cl.Name)
	}
	return models.RevokeRequest{Matching: &m, ClientID: clientID}, where, nil
}
