package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/latchkey/latchkey/handlers"
)

// bodyLimit caps every request body; a larger one is refused with 413.
const bodyLimit = "64K"

// useMiddleware installs what every request goes through: panic recovery,
// a request ID, a structured access log (path only: query strings can hold
// secrets), the body limit and security headers.
func useMiddleware(e *echo.Echo, cfg Config, log *slog.Logger) {
	e.Use(middleware.RecoverWithConfig(middleware.RecoverConfig{
		DisableStackAll:   true,
		DisablePrintStack: true,
		LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
			log.Error("panic", "err", err, "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "stack", string(stack))
			return fmt.Errorf("panic: %w", err)
		},
	}))
	e.Use(middleware.RequestID())
	e.Use(middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogMethod: true, LogURIPath: true, LogLatency: true, LogRequestID: true, LogRemoteIP: true,
		HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			log.LogAttrs(context.Background(), level, "request",
				slog.String("method", v.Method), slog.String("path", v.URIPath), slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency), slog.String("request_id", v.RequestID), slog.String("remote", v.RemoteIP))
			return nil
		},
	}))
	e.Use(middleware.BodyLimit(bodyLimit))
	e.Use(textGuard)
	e.Use(middleware.SecureWithConfig(middleware.SecureConfig{
		XSSProtection:         "0",
		ContentTypeNosniff:    "nosniff",
		XFrameOptions:         "DENY",
		HSTSMaxAge:            hstsAge(cfg),
		ContentSecurityPolicy: "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
		ReferrerPolicy:        "no-referrer",
	}))
}

func hstsAge(cfg Config) int {
	if strings.HasPrefix(cfg.Issuer, "https://") {
		return 31536000
	}
	return 0
}

// csrf protects every browser form: the token travels in a hidden "csrf"
// field or, from htmx, in X-CSRF-Token. A missing or wrong token is 403.
func csrf(cfg Config) echo.MiddlewareFunc {
	return middleware.CSRFWithConfig(middleware.CSRFConfig{
		// The browser group's catch-all route also sees requests with
		// methods no route takes (e.g. "BREW /o/token/"); those are answered
		// 404/405 by the router, not refused as forgeries.
		Skipper: func(c echo.Context) bool {
			if machinePath(c.Request().URL.Path) {
				// The catch-all route also sees typos of API paths
				// ("/o/revoke_tokens/"): those are 404s, not forgeries.
				return true
			}
			switch c.Request().Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPost, http.MethodPut,
				http.MethodPatch, http.MethodDelete:
				return false
			}
			return true
		},
		TokenLookup:    "form:csrf,header:X-CSRF-Token",
		ContextKey:     handlers.CSRFContextKey,
		CookieName:     "latchkey_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   strings.HasPrefix(cfg.Issuer, "https://"),
		CookieSameSite: http.SameSiteLaxMode,
		ErrorHandler: func(err error, c echo.Context) error {
			return echo.NewHTTPError(http.StatusForbidden, "The form has expired or did not come from this site. Go back, reload the page and try again.").SetInternal(errors.Unwrap(err))
		},
	})
}

// textGuard refuses query parameters — and, on browser forms, form fields —
// that are not valid UTF-8 or hold a NUL, with a 400: nothing Latchkey
// stores looks like that, and PostgreSQL would answer such a comparison
// with an error (a 503) rather than "not found".
func textGuard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if q, err := url.ParseQuery(r.URL.RawQuery); err == nil {
			if !valuesOK(q) {
				return echo.NewHTTPError(http.StatusBadRequest, "A query parameter is not valid UTF-8 text.")
			}
		}
		if !machinePath(r.URL.Path) && r.Method == http.MethodPost &&
			strings.HasPrefix(r.Header.Get(echo.HeaderContentType), echo.MIMEApplicationForm) {
			if form, err := c.FormParams(); err == nil && !valuesOK(form) {
				return echo.NewHTTPError(http.StatusBadRequest, "A form field is not valid UTF-8 text.")
			}
		}
		return next(c)
	}
}

func valuesOK(v url.Values) bool {
	for k, vs := range v {
		if !handlers.TextOK(k) {
			return false
		}
		for _, x := range vs {
			if !handlers.TextOK(x) {
				return false
			}
		}
	}
	return true
}
