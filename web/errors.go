package web

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/handlers"
	"github.com/latchkey/latchkey/models"
	errpages "github.com/latchkey/latchkey/views/errors"
	"github.com/latchkey/latchkey/views/layout"
)

// errorHandler is the one place errors become responses. On machine
// endpoints (machinePath: /o/ except the browser pages, /api/,
// /.well-known/, /ssf/) it writes RFC 6749 §5.2
// JSON with the status the error carries, Cache-Control: no-store, a
// WWW-Authenticate header on every 401 and Retry-After on 503. Elsewhere it
// renders an error page. It never overwrites a committed response and
// never shows a cause.
func errorHandler(log *slog.Logger) echo.HTTPErrorHandler {
	return func(err error, c echo.Context) {
		if c.Response().Committed {
			return
		}
		oe := toOAuthError(err)
		if allow, ok := oauthAllow[strings.TrimSuffix(c.Request().URL.Path, "/")]; ok && oe.Status == http.StatusNotFound &&
			!slices.Contains(strings.Split(allow, ", "), c.Request().Method) {
			// A method no router table knows (say "BREW"): still a 405.
			// A method the endpoint takes, at a spelling the router does
			// not match (a percent-encoded path such as /o/%74oken/), stays
			// a 404: a 405 would say the method is wrong (RFC 9110 §15.5.6).
			c.Response().Header().Set(echo.HeaderAllow, allow)
			oe = handlers.ErrMethodNotAllowed.WithDescription("use " + allow)
		}
		rid := requestIDOf(c.Response().Header())
		if oe.Status >= 500 {
			log.Error("request failed", "status", oe.Status, "path", c.Request().URL.Path, "request_id", rid, "err", err)
		} else if cause := errors.Unwrap(oe); cause != nil {
			log.Info("request refused", "status", oe.Status, "code", oe.Code, "path", c.Request().URL.Path, "request_id", rid, "cause", cause)
		}
		hdr := c.Response().Header()
		if oe.Status == http.StatusServiceUnavailable {
			hdr.Set("Retry-After", "1")
		}
		if machinePath(c.Request().URL.Path) {
			writeOAuthError(c, oe)
			return
		}
		var he *echo.HTTPError
		title, msg := http.StatusText(oe.Status), "Something went wrong."
		if errors.As(err, &he) {
			if s, ok := he.Message.(string); ok && he.Code < 500 {
				msg = s
			}
		}
		switch oe.Status {
		case http.StatusNotFound:
			if he == nil || he.Message == http.StatusText(404) {
				msg = "There is no page at this address."
			}
		case http.StatusServiceUnavailable:
			msg = "The server cannot reach its database. Try again in a moment."
		}
		if oe.Status >= 500 && oe.Status != 503 {
			msg = "An internal error occurred. Request ID: " + rid
		}
		page := layout.Page{Title: title, User: handlers.UserFrom(c), CSRF: handlers.CSRFToken(c)}
		var buf strings.Builder
		if rerr := errpages.ErrorPage(errpages.ErrorProps{Page: page, Status: oe.Status, Title: title, Message: msg}).Render(c.Request().Context(), &buf); rerr != nil {
			_ = c.String(oe.Status, title)
			return
		}
		hdr.Set(echo.HeaderCacheControl, "no-store")
		_ = c.HTML(oe.Status, buf.String())
	}
}

// machinePath reports whether a path answers JSON errors.
func machinePath(p string) bool {
	if strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/.well-known/") || strings.HasPrefix(p, "/ssf/") {
		return true
	}
	if !strings.HasPrefix(p, "/o/") {
		return false
	}
	return !strings.HasPrefix(p, "/o/authorize") && !strings.HasPrefix(p, "/o/authorized_tokens")
}

// toOAuthError maps any error to an RFC error with the right status.
func toOAuthError(err error) *handlers.OAuthError {
	var oe *handlers.OAuthError
	if errors.As(err, &oe) {
		return oe
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusRequestEntityTooLarge:
			return handlers.ErrRequestTooLarge
		case http.StatusMethodNotAllowed:
			return handlers.ErrMethodNotAllowed
		case http.StatusNotFound:
			return &handlers.OAuthError{Code: "invalid_request", Status: 404, Description: "no such endpoint"}
		case http.StatusUnauthorized:
			return &handlers.OAuthError{Code: "invalid_request", Status: 401, Description: fmt.Sprint(he.Message)}
		case http.StatusForbidden:
			return &handlers.OAuthError{Code: "access_denied", Status: 403, Description: fmt.Sprint(he.Message)}
		}
		if he.Code >= 400 && he.Code < 500 {
			return &handlers.OAuthError{Code: "invalid_request", Status: he.Code, Description: fmt.Sprint(he.Message)}
		}
		return handlers.ErrServerError.Wrap(err)
	}
	if errors.Is(err, models.ErrUnavailable) {
		return handlers.ErrTemporarilyUnavailable.Wrap(err)
	}
	return handlers.ErrServerError.Wrap(err)
}

// writeOAuthError writes the JSON body and headers.
func writeOAuthError(c echo.Context, oe *handlers.OAuthError) {
	hdr := c.Response().Header()
	hdr.Set(echo.HeaderCacheControl, "no-store")
	hdr.Set("Pragma", "no-cache")
	if oe.Status == http.StatusUnauthorized || oe.Bearer {
		// RFC 6750 §3: a protected resource answers every request without
		// a usable token with the challenge, 400s included.
		hdr.Set(echo.HeaderWWWAuthenticate, challenge(oe))
	}
	if oe.Code == "" {
		// RFC 6750 §3.1: a request with no credentials gets the challenge
		// and no error code.
		_ = c.JSON(oe.Status, map[string]string{"error": "invalid_request", "error_description": oe.Description})
		return
	}
	_ = c.JSON(oe.Status, oe)
}

// challenge builds the WWW-Authenticate header of a 401.
func challenge(oe *handlers.OAuthError) string {
	if oe.Bearer {
		if oe.Code == "" {
			return `Bearer realm="latchkey"`
		}
		return fmt.Sprintf(`Bearer realm="latchkey", error=%q, error_description=%q`, oe.Code, oe.Description)
	}
	return `Basic realm="latchkey"`
}
