package handlers

import (
	"errors"
	"net/http"

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
	u, err := h.store.CompleteSetup(c.Request().Context(), tok, username, pw, remote(c), requestID(c))
	switch {
	case errors.Is(err, models.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound, "This setup link is invalid, expired or already used.")
	case errors.Is(err, models.ErrInvalid), errors.Is(err, models.ErrAlreadyExists):
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
	if err := h.store.RecordStaffLogin(c.Request().Context(), u, remote(c), requestID(c)); err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: h.cfg.SessionCookieName(), Value: raw, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: h.cfg.SecureCookies(), MaxAge: int(models.SessionTTL.Seconds())})
	return c.Redirect(http.StatusSeeOther, "/admin/")
}

// userMessage is the sentence a form shows for a refused input: a
// models.ValidationError's Message, written for the person who typed it.
// The one refusal that is not a ValidationError but reaches a form is a
// username already taken.
func userMessage(err error) string {
	var v *models.ValidationError
	switch {
	case errors.As(err, &v):
		return v.Message
	case errors.Is(err, models.ErrAlreadyExists):
		return "A user with that name already exists."
	}
	return "Invalid input."
}
