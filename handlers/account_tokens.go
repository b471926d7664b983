package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/account"
	"github.com/latchkey/latchkey/views/components"
)

// accountPath is DOT's self-service page.
const accountPath = "/o/authorized_tokens/"

// ShowAuthorizedTokens is DOT's /o/authorized_tokens/: the applications the
// logged-in user authorized, grouped by client, with issue and last-use
// dates.
func (h *Handler) ShowAuthorizedTokens(c echo.Context) error {
	u := UserFrom(c)
	list, err := h.store.ActiveClientsByUser(c.Request().Context(), u.ID, cursor(c), pageSize)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, account.AuthorizedTokensPage(account.AuthorizedTokensProps{
		Page: page(c, "My apps", "account"), Flash: takeFlash(c), Self: c.Request().URL.RequestURI(),
		Apps: list.Rows, Pager: pager(c, list.HasNext, list.Next)}))
}

// accountRevoke selects the logged-in user's grants at the client in the
// path, and loads that client. Another user's grants cannot be selected at
// all; a client the user holds no active grant at is a 404.
func (h *Handler) accountRevoke(c echo.Context) (models.RevokeRequest, models.RevokeResult, *models.Client, error) {
	id, err := idParam(c)
	if err != nil {
		return models.RevokeRequest{}, models.RevokeResult{}, nil, err
	}
	ctx := c.Request().Context()
	req := models.RevokeRequest{UserID: UserFrom(c).ID, ClientID: id}
	preview, err := h.store.RevokePreview(ctx, req)
	if err != nil {
		return req, preview, nil, err
	}
	if preview.Grants == 0 {
		return req, preview, nil, echo.NewHTTPError(http.StatusNotFound, "You have not authorized this application, or its access is already removed.")
	}
	cl, err := h.store.ClientByID(ctx, id)
	if err != nil {
		return req, preview, nil, notFound(err, "application")
	}
	return req, preview, cl, nil
}

// ShowDeleteAuthorizedToken asks before removing an application's access
// (the page DOT shows at the same URL), in an end user's words: devices
// signed out, not grants and tokens.
func (h *Handler) ShowDeleteAuthorizedToken(c echo.Context) error {
	_, preview, cl, err := h.accountRevoke(c)
	if err != nil {
		return err
	}
	return confirm(c, "Remove access", "account", components.ConfirmProps{
		Title: "Remove " + cl.Name + "'s access?",
		Lines: []string{cl.Name + " will be signed out on " + components.Plural(int64(preview.Grants), "device", "devices") +
			" at once and can no longer act for you. To use it again, you will have to sign in to it and allow it again."},
		Action: accountPath + c.Param("id") + "/delete/", ReturnTo: accountPath, Region: regionAccount(c),
		Submit: "Remove access", Danger: true,
	})
}

// DeleteAuthorizedToken revokes all of the logged-in user's grants at one
// client, through the revocation core, as the user.
func (h *Handler) DeleteAuthorizedToken(c echo.Context) error {
	req, _, cl, err := h.accountRevoke(c)
	if err != nil {
		return err
	}
	req.Actor, req.Reason, req.Remote, req.RequestID = models.EndUser(UserFrom(c)), "revoked by the user", remote(c), requestID(c)
	return act(c, "application", accountPath, func(ctx context.Context) (outcome, error) {
		res, err := h.store.Revoke(ctx, req)
		return outcome{Flash: account.Removed(cl.Name, res.Grants)}, err
	})
}

func regionAccount(c echo.Context) string {
	if c.QueryParam("region") == account.RegionApps {
		return account.RegionApps
	}
	return ""
}
