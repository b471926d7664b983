package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/auth"
)

// SessionCookie is the name of the login cookie under an http issuer
// (Config.SessionCookieName gives the name in use).
const SessionCookie = "latchkey_session"

// ShowLogin renders the login form.
func (h *Handler) ShowLogin(c echo.Context) error {
	next := safeNext(c.QueryParam("next"))
	if u := UserFrom(c); u != nil {
		return c.Redirect(http.StatusSeeOther, landing(u, next))
	}
	return render(c, 200, auth.LoginPage(auth.LoginProps{Page: page(c, "Log in", ""), Next: next}))
}

// Login checks a username and password and starts a session. Too many
// failures answer 429 with Retry-After before any password is checked
// (see checkPassword); a staff member's login is audited.
func (h *Handler) Login(c echo.Context) error {
	username, pw := c.FormValue("username"), c.FormValue("password")
	next := safeNext(c.FormValue("next"))
	again := func(status int, msg string) error {
		return render(c, status, auth.LoginPage(auth.LoginProps{
			Page: page(c, "Log in", ""), Next: next, Username: username, Error: msg,
		}))
	}
	u, err := h.checkPassword(c, username, pw, "login page")
	var te *throttledError
	switch {
	case errors.As(err, &te):
		te.setRetryAfter(c)
		return again(http.StatusTooManyRequests, "Too many failed attempts. Try again in "+waitText(te.retryAfter())+".")
	case errors.Is(err, models.ErrBadLogin):
		return again(http.StatusUnauthorized, "Wrong username or password.")
	case errBusy(err):
		c.Response().Header().Set("Retry-After", "1")
		return again(http.StatusServiceUnavailable, "The server is busy. Try again in a moment.")
	case err != nil:
		return err
	}
	raw, err := h.store.CreateSession(c.Request().Context(), u)
	if err != nil {
		return err
	}
	if u.Role.IsStaff() {
		if err := h.store.RecordStaffLogin(c.Request().Context(), u, remote(c), requestID(c)); err != nil {
			return err
		}
	}
	c.SetCookie(&http.Cookie{
		Name: h.cfg.SessionCookieName(), Value: raw, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: h.cfg.SecureCookies(), MaxAge: int(models.SessionTTL.Seconds()),
	})
	return c.Redirect(http.StatusSeeOther, landing(u, next))
}

// Logout ends the session.
func (h *Handler) Logout(c echo.Context) error {
	if ck, err := c.Cookie(h.cfg.SessionCookieName()); err == nil {
		if err := h.store.DeleteSession(c.Request().Context(), ck.Value); err != nil {
			return err
		}
	}
	c.SetCookie(&http.Cookie{Name: h.cfg.SessionCookieName(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: h.cfg.SecureCookies()})
	return c.Redirect(http.StatusSeeOther, "/login")
}

// ShowHome sends a visitor where they belong.
func (h *Handler) ShowHome(c echo.Context) error {
	u := UserFrom(c)
	if u == nil {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return c.Redirect(http.StatusSeeOther, landing(u, ""))
}

// landing is where a user goes after logging in.
func landing(u *models.User, next string) string {
	if next != "" {
		return next
	}
	if u.Role.IsStaff() {
		return "/admin/"
	}
	return "/o/authorized_tokens/"
}

// safeNext accepts only a local path, so the login form cannot be used as
// an open redirect.
func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return ""
	}
	return next
}

// LoadSession is middleware that puts the logged-in user, if any, in the
// request context. A session the database cannot check counts as none.
func (h *Handler) LoadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ck, err := c.Cookie(h.cfg.SessionCookieName())
		if err == nil && ck.Value != "" {
			u, err := h.store.SessionUser(c.Request().Context(), ck.Value)
			switch {
			case err == nil:
				c.SetRequest(c.Request().WithContext(WithUser(c.Request().Context(), u)))
			case !errors.Is(err, models.ErrNotFound):
				return err
			}
		}
		return next(c)
	}
}

// RequireLogin is middleware that sends anonymous visitors to /login and
// back.
func RequireLogin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if UserFrom(c) == nil {
			if c.Request().Method != http.MethodGet {
				return echo.NewHTTPError(http.StatusUnauthorized, "log in first")
			}
			return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
		}
		return next(c)
	}
}
