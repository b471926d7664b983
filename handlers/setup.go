package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/auth"
)

// ShowSetup renders the first-admin form behind the one-time link that
// `latchkey serve` prints on a database with no admin.
func (h *Handler) ShowSetup(c echo.Context) error {
	tok := c.QueryParam("token")
	ok, err := h.store.SetupTokenValid(c.Request().Context(), tok)
	if err != nil {
		return err
	}
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound, "This setup link is invalid, expired or already used.")
	}
	return render(c, 200, auth.SetupPage(auth.SetupProps{Page: page(c, "Set up", ""), Token: tok}))
}

// CompleteSetup creates the first admin and logs them in.
func (h *Handler) CompleteSetup(c echo.Context) error {
	tok, username, pw := c.FormValue("token"), c.FormValue("username"), c.FormValue("password")
	u, err := h.store.CompleteSetup(c.Request().Context(), tok, username, pw)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "This setup link is invalid, expired or already used.")
	case errors.Is(err, models.ErrInvalid), errors.Is(err, models.ErrPasswordTooShort), errors.Is(err, models.ErrPasswordTooLong), errors.Is(err, models.ErrAlreadyExists):
		return render(c, http.StatusUnprocessableEntity, auth.SetupPage(auth.SetupProps{
			Page: page(c, "Set up", ""), Token: tok, Username: username, Error: userMessage(err),
		}))
	case err != nil:
		return err
	}
	raw, err := h.store.CreateSession(c.Request().Context(), u)
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: SessionCookie, Value: raw, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: h.cfg.SecureCookies(), MaxAge: int(models.SessionTTL.Seconds())})
	return c.Redirect(http.StatusSeeOther, "/admin/")
}

// userMessage turns a models validation error into a sentence for a form.
func userMessage(err error) string {
	msg := err.Error()
	for _, p := range []string{"models: invalid: ", "models: already exists: ", "models: "} {
		if len(msg) > len(p) && msg[:len(p)] == p {
			msg = msg[len(p):]
			break
		}
	}
	if msg == "" {
		return "Invalid input."
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}
