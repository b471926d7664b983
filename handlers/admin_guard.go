package handlers

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
)

// RequireStaff is middleware for the dashboard: anonymous visitors go to
// /login and back, a logged-in user who is neither admin nor auditor gets
// 403. It implies RequireLogin.
func RequireStaff(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := UserFrom(c)
		if u == nil {
			if c.Request().Method != http.MethodGet {
				return echo.NewHTTPError(http.StatusUnauthorized, "log in first")
			}
			return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
		}
		if !u.Role.IsStaff() {
			return echo.NewHTTPError(http.StatusForbidden, "The dashboard is for administrators and auditors.")
		}
		return next(c)
	}
}

// RequireAdmin is middleware for every dashboard action that changes
// something, and for its confirmation page: an auditor reads everything
// and changes nothing, and the server, not only the page, refuses (403).
// Use it after RequireStaff.
func RequireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if u := UserFrom(c); u == nil || u.Role != models.RoleAdmin {
			return echo.NewHTTPError(http.StatusForbidden, "Only an administrator can do this; auditors have read-only access.")
		}
		return next(c)
	}
}
