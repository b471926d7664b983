package handlers

import (
	"net/http"
	"strconv"

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
// path. Another user's grants cannot be selected at all; a client the user
// holds no active grant at is a 404.
func (h *Handler) accountRevoke(c echo.Context) (models.RevokeRequest, models.RevokeResult, error) {
	id, err := idParam(c)
	if err != nil {
		return models.RevokeRequest{}, models.RevokeResult{}, err
	}
	req := models.RevokeRequest{UserID: UserFrom(c).ID, ClientID: id}
	preview, err := h.store.RevokePreview(c.Request().Context(), req)
	if err != nil {
		return req, preview, err
	}
	if preview.Grants == 0 {
		return req, preview, echo.NewHTTPError(http.StatusNotFound, "You have not authorized this application, or its access is already revoked.")
	}
	return req, preview, nil
}

// ShowDeleteAuthorizedToken asks before revoking an application's access
// (the page DOT shows at the same URL).
func (h *Handler) ShowDeleteAuthorizedToken(c echo.Context) error {
	_, preview, err := h.accountRevoke(c)
	if err != nil {
		return err
	}
	cl, err := h.store.ClientByID(c.Request().Context(), mustID(c))
	if err != nil {
		return notFound(err, "application")
	}
	cp := components.ConfirmProps{
		Title: "Revoke " + cl.Name + "'s access?",
		Lines: []string{cl.Name + " will be signed out: " + components.Plural(int64(preview.Tokens), "token", "tokens") +
			" stop working at once. To use it again you will have to authorize it again."},
		Action: accountPath + c.Param("id") + "/delete/", ReturnTo: accountPath, Region: regionAccount(c),
		Submit: "Revoke access", Danger: true, CSRF: CSRFToken(c),
	}
	if isHTMX(c) {
		return render(c, http.StatusOK, components.ConfirmForm(cp))
	}
	return render(c, http.StatusOK, account.ConfirmPage(account.ConfirmPageProps{Page: page(c, "Revoke access", "account"), Confirm: cp}))
}

// DeleteAuthorizedToken revokes all of the logged-in user's grants at one
// client, through the revocation core, as the user.
func (h *Handler) DeleteAuthorizedToken(c echo.Context) error {
	req, _, err := h.accountRevoke(c)
	if err != nil {
		return err
	}
	u := UserFrom(c)
	req.Actor, req.Reason, req.Remote, req.RequestID = models.EndUser(u), "revoked by the user", remote(c), requestID(c)
	res, err := h.store.Revoke(c.Request().Context(), req)
	if err != nil {
		return err
	}
	setFlash(c, revokedMessage(res))
	return c.Redirect(http.StatusSeeOther, accountPath)
}

func mustID(c echo.Context) int64 {
	id, _ := strconv.ParseInt(c.Param("id"), 10, 64)
	return id
}

func regionAccount(c echo.Context) string {
	if c.QueryParam("region") == account.RegionApps {
		return account.RegionApps
	}
	return ""
}
