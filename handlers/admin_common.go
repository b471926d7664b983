package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/admin"
	"github.com/latchkey/latchkey/views/components"
)

// pageSize is how many rows a dashboard list shows.
const pageSize = 50

// flashCookie carries the outcome of an action across its redirect
// (post, redirect, get), with or without htmx. It holds counts and names,
// never a secret.
const flashCookie = "latchkey_flash"

func setFlash(c echo.Context, msg string) {
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: url.QueryEscape(msg), Path: "/", HttpOnly: true,
		Secure: secureCookies(c), SameSite: http.SameSiteLaxMode, MaxAge: 60})
}

// takeFlash reads the flash message once and clears it.
func takeFlash(c echo.Context) string {
	ck, err := c.Cookie(flashCookie)
	if err != nil || ck.Value == "" {
		return ""
	}
	c.SetCookie(&http.Cookie{Name: flashCookie, Value: "", Path: "/", HttpOnly: true, Secure: secureCookies(c),
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
	msg, err := url.QueryUnescape(ck.Value)
	if err != nil || len(msg) > 300 {
		return ""
	}
	return msg
}

// shell returns what every dashboard page carries.
func shell(c echo.Context, title, section string) admin.Shell {
	u := UserFrom(c)
	return admin.Shell{
		Page:   page(c, title, section),
		Flash:  takeFlash(c),
		CanAct: u != nil && u.Role == models.RoleAdmin,
		Self:   c.Request().URL.RequestURI(),
	}
}

// cursor reads the keyset position of a list from ?before=.
func cursor(c echo.Context) models.Cursor {
	n, err := strconv.ParseInt(c.QueryParam("before"), 10, 64)
	if err != nil || n <= 0 {
		return models.Cursor{}
	}
	return models.Cursor{Before: n}
}

// pager links to the first and the next page of the current list, keeping
// its filters.
func pager(c echo.Context, hasNext bool, next models.Cursor) components.PagerProps {
	var p components.PagerProps
	u := *c.Request().URL
	q := u.Query()
	if q.Get("before") != "" {
		q.Del("before")
		u.RawQuery = q.Encode()
		p.First = u.RequestURI()
	}
	if hasNext {
		q.Set("before", strconv.FormatInt(next.Before, 10))
		u.RawQuery = q.Encode()
		p.Next = u.RequestURI()
	}
	return p
}

// idParam reads a row id from the path; anything else is a 404.
func idParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound, http.StatusText(http.StatusNotFound))
	}
	return id, nil
}

// notFound maps models.ErrNotFound to a 404 page.
func notFound(err error, what string) error {
	if errors.Is(err, models.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "There is no such "+what+".")
	}
	return err
}

// returnTo is where an action goes back to: a local dashboard or
// self-service path from the form or query, else fallback. It is never an
// open redirect.
func returnTo(c echo.Context, fallback string) string {
	r := safeNext(c.FormValue("return_to"))
	if r == "" || !(strings.HasPrefix(r, "/admin") || strings.HasPrefix(r, "/o/authorized_tokens")) {
		return fallback
	}
	return r
}

// regions are the page parts an action may update in place.
var regions = map[string]bool{admin.RegionTokens: true, admin.RegionUserGrants: true, admin.RegionClientGrants: true,
	admin.RegionClient: true, admin.RegionStreams: true, "authorized-apps": true}

func region(c echo.Context) string {
	if r := c.QueryParam("region"); regions[r] {
		return r
	}
	return ""
}

// isHTMX reports an htmx request, which gets a fragment.
func isHTMX(c echo.Context) bool { return c.Request().Header.Get("HX-Request") == "true" }

// reason is the optional reason of an action, for the audit trail.
func reason(c echo.Context) string { return strings.TrimSpace(c.FormValue("reason")) }

// staffAction is who does a dashboard action and why.
func staffAction(c echo.Context) models.StaffAction {
	return models.StaffAction{Actor: models.Staff(UserFrom(c)), Reason: reason(c), Remote: remote(c), RequestID: requestID(c)}
}

// revokedMessage says what a revocation did.
func revokedMessage(res models.RevokeResult) string {
	if res.Grants == 0 {
		return "Nothing was active: no grant or token revoked."
	}
	return fmt.Sprintf("Revoked %s and %s.", components.Plural(int64(res.Grants), "grant", "grants"),
		components.Plural(int64(res.Tokens), "token", "tokens"))
}

// willRevoke says what a revocation is about to do.
func willRevoke(res models.RevokeResult) string {
	if res.Grants == 0 {
		return "Nothing is active here any more: no grant or token would be revoked."
	}
	return fmt.Sprintf("This revokes %s and %s at once. Clients holding them are refused on their next request, and their refresh tokens stop working.",
		components.Plural(int64(res.Grants), "grant", "grants"), components.Plural(int64(res.Tokens), "live token", "live tokens"))
}

// confirm renders a confirmation: the fragment for htmx, a page without.
func confirm(c echo.Context, title string, cp components.ConfirmProps) error {
	cp.CSRF = CSRFToken(c)
	if isHTMX(c) {
		return render(c, http.StatusOK, components.ConfirmForm(cp))
	}
	return render(c, http.StatusOK, admin.ConfirmPage(admin.ConfirmPageProps{Page: page(c, title, ""), Confirm: cp}))
}

// revokeAndReturn runs a revocation through the core, announces what it
// did and goes back (303): the same answer with and without htmx, which
// follows the redirect and swaps the changed region.
func (h *Handler) revokeAndReturn(c echo.Context, req models.RevokeRequest, fallback string) error {
	res, err := h.store.Revoke(c.Request().Context(), req)
	if err != nil {
		return notFound(err, "grant")
	}
	setFlash(c, revokedMessage(res))
	return c.Redirect(http.StatusSeeOther, returnTo(c, fallback))
}

func urlEscape(s string) string { return url.QueryEscape(s) }

// filterIDs resolves the username and client_id typed in a filter form to
// row ids (zero when left empty).
func (h *Handler) filterIDs(ctx context.Context, username, clientID string) (userID, clientRowID int64, err error) {
	if username = strings.TrimSpace(username); username != "" {
		u, err := h.store.UserByUsername(ctx, username)
		if errors.Is(err, models.ErrNotFound) {
			return 0, 0, &models.ValidationError{Field: "user", Message: fmt.Sprintf("No user is named %q.", username)}
		}
		if err != nil {
			return 0, 0, err
		}
		userID = u.ID
	}
	if clientID = strings.TrimSpace(clientID); clientID != "" {
		cl, err := h.store.ClientByClientID(ctx, clientID)
		if errors.Is(err, models.ErrNotFound) {
			return 0, 0, &models.ValidationError{Field: "client", Message: fmt.Sprintf("No client has the id %q.", clientID)}
		}
		if err != nil {
			return 0, 0, err
		}
		clientRowID = cl.ID
	}
	return userID, clientRowID, nil
}
