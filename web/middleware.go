package web

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/latchkey/latchkey/handlers"
)

// bodyLimit is the request body limit, 64 KiB, in the byte count echo
// parses (its "64K" would mean 64,000).
var bodyLimit = strconv.Itoa(handlers.MaxBody)

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
	e.Use(middleware.RequestIDWithConfig(middleware.RequestIDConfig{Generator: newRequestIDs()}))
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

// newRequestIDs returns a generator of request IDs in echo's format (32
// letters and digits), unique without a random read per request: a random
// prefix for this server's life, then a counter. The IDs name requests in
// the access log and the audit trail; they are no secret and need only be
// unique.
func newRequestIDs() func() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	const prefixLen, counterLen = 20, 12
	var prefix [prefixLen]byte
	for i, r := range []byte(rand.Text())[:prefixLen] { // rand.Text is base32: 26 letters and digits
		prefix[i] = r
	}
	var n atomic.Uint64
	return func() string {
		var b [prefixLen + counterLen]byte
		copy(b[:], prefix[:])
		v := n.Add(1)
		for i := len(b) - 1; i >= prefixLen; i-- {
			b[i] = alphabet[v%uint64(len(alphabet))]
			v /= uint64(len(alphabet))
		}
		return string(b[:])
	}
}

func hstsAge(cfg Config) int {
	if strings.HasPrefix(cfg.Issuer, "https://") {
		return 31536000
	}
	return 0
}

// csrf protects every browser form (see handlers.CSRF). Machine endpoints
// authenticate their clients instead, and the browser group's catch-all
// route also sees requests with methods no route takes (e.g. "BREW
// /o/token/") or typos of API paths: those are answered 404/405 by the
// router, not refused as forgeries.
func csrf(cfg Config) echo.MiddlewareFunc {
	return handlers.CSRF(handlers.Config{Issuer: cfg.Issuer}, func(c echo.Context) bool {
		if machinePath(c.Request().URL.Path) {
			return true
		}
		// Log out with no live session (it expired, or another tab logged
		// out first) only clears the cookie: nothing to forge, and the
		// form's token was bound to the session that is gone.
		if c.Request().URL.Path == "/logout" && handlers.UserFrom(c) == nil {
			return true
		}
		switch c.Request().Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPost, http.MethodPut,
			http.MethodPatch, http.MethodDelete:
			return false
		}
		return true
	})
}

// textGuard refuses query parameters and browser form fields that are not
// valid UTF-8 or hold a NUL, with a 400: nothing Latchkey stores looks like
// that, and PostgreSQL would answer such a comparison with an error (a 503)
// rather than "not found". It checks what handlers will read: the query's
// values even when some pair in it is malformed (url.Values keeps the pairs
// that parsed), and the whole form body, which must be
// application/x-www-form-urlencoded and well formed. No browser endpoint
// takes multipart or any other body type; those are refused with 415.
// Machine endpoints parse and check their own bodies (handlers.parseOAuthForm).
func textGuard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if q, _ := url.ParseQuery(r.URL.RawQuery); !valuesOK(q) {
			return echo.NewHTTPError(http.StatusBadRequest, "A query parameter is not valid UTF-8 text.")
		}
		if !machinePath(r.URL.Path) {
			switch r.Method {
			case http.MethodPost, http.MethodPut, http.MethodPatch:
				// The methods whose bodies net/http parses as forms.
				if err := checkForm(r); err != nil {
					return err
				}
			}
		}
		return next(c)
	}
}

// checkForm parses a browser form body, once, and refuses a body that is
// not a well-formed urlencoded form of valid text.
func checkForm(r *http.Request) error {
	ct := r.Header.Get(echo.HeaderContentType)
	if ct == "" && r.ContentLength == 0 {
		return nil // nothing to read (a bare POST)
	}
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != echo.MIMEApplicationForm {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "Forms must be sent as application/x-www-form-urlencoded.")
	}
	if err := r.ParseForm(); err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he // the body limit's 413
		}
		return echo.NewHTTPError(http.StatusBadRequest, "The form is not validly encoded.").SetInternal(err)
	}
	if !valuesOK(r.PostForm) {
		return echo.NewHTTPError(http.StatusBadRequest, "A form field is not valid UTF-8 text.")
	}
	return nil
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
