package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/admin"
	"github.com/latchkey/latchkey/views/components"
)

// pageSize is how many rows a dashboard list shows.
const pageSize = 50

// flashCookie carries the outcome of an action across its redirect
// (post, redirect, get), with or without htmx. It holds counts and names,
// never a secret. Under an https issuer it carries the __Host- prefix, as
// the session does: a sibling domain could otherwise plant one whose text
// every dashboard page shows in its status area, and which a clearing
// without its Domain could not remove.
const flashCookie = "latchkey_flash"

func flashCookieName(c echo.Context) string {
	if secureCookies(c) {
		return "__Host-" + flashCookie
	}
	return flashCookie
}

func setFlash(c echo.Context, msg string) {
	c.SetCookie(&http.Cookie{Name: flashCookieName(c), Value: url.QueryEscape(msg), Path: "/", HttpOnly: true,
		Secure: secureCookies(c), SameSite: http.SameSiteLaxMode, MaxAge: 60})
}

// takeFlash reads the flash message once and clears it.
func takeFlash(c echo.Context) string {
	ck, err := c.Cookie(flashCookieName(c))
	if err != nil || ck.Value == "" {
		return ""
	}
	c.SetCookie(&http.Cookie{Name: flashCookieName(c), Value: "", Path: "/", HttpOnly: true, Secure: secureCookies(c),
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

// confirm renders the confirmation half of a confirm-then-act pair: the
// fragment for htmx, a page of its own without (in the navigation section
// the action belongs to).
func confirm(c echo.Context, title, section string, cp components.ConfirmProps) error {
	cp.CSRF = CSRFToken(c)
	if isHTMX(c) {
		return render(c, http.StatusOK, components.ConfirmForm(cp))
	}
	return render(c, http.StatusOK, components.ConfirmPage(components.ConfirmPageProps{Page: page(c, title, section), Confirm: cp}))
}

// outcome is what the action half of a confirm-then-act pair did: a
// message to announce on the page it goes back to, or (Show) a page to
// answer at once instead, such as a new secret shown once.
type outcome struct {
	Flash string
	Show  templ.Component
}

// act is the action half of every confirm-then-act pair. do calls one
// models operation (the caller has loaded what it acts on); act maps its
// error — a missing row is a 404 naming what, a refused change (ErrInvalid)
// a 409 with what to fix — then announces the outcome and goes back with
// a 303 (post, redirect, get). The answer is the same with and without
// htmx, which follows the redirect and swaps the changed region.
func act(c echo.Context, what, fallback string, do func(ctx context.Context) (outcome, error)) error {
	out, err := do(c.Request().Context())
	switch {
	case errors.Is(err, models.ErrInvalid):
		return echo.NewHTTPError(http.StatusConflict, userMessage(err))
	case err != nil:
		return notFound(err, what)
	case out.Show != nil:
		return render(c, http.StatusOK, out.Show)
	}
	setFlash(c, out.Flash)
	return c.Redirect(http.StatusSeeOther, returnTo(c, fallback))
}

// revoke is an act that revokes through the core and says what it did.
func (h *Handler) revoke(c echo.Context, fallback string, req models.RevokeRequest) error {
	return act(c, "grant", fallback, func(ctx context.Context) (outcome, error) {
		res, err := h.store.Revoke(ctx, req)
		return outcome{Flash: revokedMessage(res)}, err
	})
}

func urlEscape(s string) string { return url.QueryEscape(s) }

// filterIDs resolves the username and the client typed in a filter form
// to row ids (zero when left empty). The client may be typed as its name
// (in any case) or its client_id; a name several clients share is refused
// with the list of them. A miss says what was typed.
func (h *Handler) filterIDs(ctx context.Context, username, client string) (userID, clientRowID int64, err error) {
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
	if client = strings.TrimSpace(client); client != "" {
		rows, err := h.store.ClientsByNameOrID(ctx, client)
		if errors.Is(err, models.ErrNotFound) {
			return 0, 0, &models.ValidationError{Field: "client", Message: fmt.Sprintf("No client has the name or client_id %q.", client)}
		}
		if err != nil {
			return 0, 0, err
		}
		if len(rows) > 1 {
			names := make([]string, len(rows))
			for i, r := range rows {
				names[i] = fmt.Sprintf("%s (client_id %s)", r.Name, r.ClientID)
			}
			return 0, 0, &models.ValidationError{Field: "client", Message: fmt.Sprintf(
				"Several clients are named %q: %s. Type the client_id of the one you mean.", client, strings.Join(names, "; "))}
		}
		clientRowID = rows[0].ID
	}
	return userID, clientRowID, nil
}
