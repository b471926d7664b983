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
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/latchkey/latchkey/handlers"
)

// bodyLimit is the request body limit, 64 KiB, in the byte count echo
// parses (its "64K" would mean 64,000).
var bodyLimit = strconv.Itoa(handlers.MaxBody)

// useMiddleware installs what every request goes through, outermost
// first: the access log and the request metrics (which also turn a
// returned error into its answer, so that both see the final status),
// panic recovery, a request ID, the security headers, the body limit and
// the text guard. The security headers come before the two guards, so
// that their refusals (a 400, 413 or 415 page or JSON) carry them too. The
// access log records the path only: query strings can hold secrets.
func useMiddleware(e *echo.Echo, cfg Config, log *slog.Logger) {
	e.Use(chain(
		observe(log, cfg.Metrics),
		middleware.RecoverWithConfig(middleware.RecoverConfig{
			DisableStackAll:   true,
			DisablePrintStack: true,
			LogErrorFunc: func(c echo.Context, err error, stack []byte) error {
				log.Error("panic", "err", err, "request_id", requestIDOf(c.Response().Header()), "stack", string(stack))
				return fmt.Errorf("panic: %w", err)
			},
		}),
		requestID(),
		secureHeaders(cfg),
		middleware.BodyLimit(bodyLimit),
		textGuard,
	))
}

// chain composes middleware once, for the server's life. Echo applies the
// middleware given to Use anew on every request, which makes a closure per
// layer per request; the chain built here is one function, whose innermost
// step calls the route's handler, which is what echo would pass on as
// next (c.Handler(), as its router set it).
func chain(mw ...echo.MiddlewareFunc) echo.MiddlewareFunc {
	h := func(c echo.Context) error { return c.Handler()(c) }
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return func(echo.HandlerFunc) echo.HandlerFunc { return h }
}

// observe answers a returned error through the error handler, then counts
// the request in metrics and writes its access log line, both with the
// status that was sent: the error handler's, or 500 from recovery, whose
// panic line comes first. It is outermost, so a request that panicked is
// logged and counted too.
func observe(log *slog.Logger, m *Metrics) echo.MiddlewareFunc {
	h := log.Handler()
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			if err := next(c); err != nil {
				c.Error(err)
			}
			end := time.Now()
			latency := end.Sub(start)
			req, res := c.Request(), c.Response()
			status := res.Status
			m.record(c.Path(), req.Method, status, latency)
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			ctx := context.Background()
			if h.Enabled(ctx, level) {
				// The record is made here rather than by log.LogAttrs,
				// which would read the clock again and the caller's stack.
				path := req.URL.Path
				if path == "" {
					path = "/"
				}
				r := slog.NewRecord(end, level, "request", 0)
				r.AddAttrs(slog.String("method", req.Method), slog.String("path", path), slog.Int("status", status),
					slog.Duration("latency", latency), slog.String("request_id", requestIDOf(res.Header())),
					slog.String("remote", c.RealIP()))
				_ = h.Handle(ctx, r)
			}
			return nil
		}
	}
}

// headerRequestID is X-Request-ID as net/http stores it (canonical), so
// that the map is used without converting the name on every request.
const headerRequestID = "X-Request-Id"

// requestID names each request with an ID of our own (newRequestIDs) in
// the X-Request-ID response header, where the handlers, the error handler
// and the access log read it. The audit trail records it, so one sent by
// the client is removed, never used.
func requestID() echo.MiddlewareFunc {
	next := newRequestIDs()
	return func(h echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			delete(c.Request().Header, headerRequestID)
			c.Response().Header()[headerRequestID] = []string{next()}
			return h(c)
		}
	}
}

// requestIDOf is the ID requestID gave the request whose answer has
// header h.
func requestIDOf(h http.Header) string {
	if v := h[headerRequestID]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// secureHeaders sets the security headers. Each value is
// one slice shared by every response, put straight in the header map: the
// values are fixed, net/http only reads them, and a handler that sets one
// of these headers again replaces the slice (Set) or appends to a full one
// (Add), so the shared slice never changes.
//
// Every answer gets nosniff, X-Frame-Options, the CSP (its frame-ancestors
// is what current browsers obey) and, over https, HSTS: OWASP's list for
// API answers as well as pages. Referrer-Policy: no-referrer goes on pages
// and redirects only (not on machinePath answers): it governs the requests
// a document or a redirect makes, and a JSON answer makes none. (Pages
// relax it to same-origin in their own <meta name="referrer">, so links
// within the dashboard keep their referrer; a redirect, such as the one
// carrying an authorization code to a client, sends none.)
// X-XSS-Protection is not sent: no current browser has the filter it
// configured, and OWASP's advice is to leave it out or turn it off.
//
// Besides, an answer's header map then stays within 8 entries on the
// token, introspection and revocation endpoints, even over https: a Go map
// of 8 entries is one group, and the 9th turns it into a table, which
// costs every such answer about 1.5 KB and 2 µs more, in net/http's copy
// of the map too (TestMachineAnswersFitASmallHeaderMap).
func secureHeaders(cfg Config) echo.MiddlewareFunc {
	one := func(v string) []string { return []string{v}[:1:1] }
	nosniff, deny := one("nosniff"), one("DENY")
	csp := one("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	referrer := one("no-referrer")
	var hsts []string
	if age := hstsAge(cfg); age != 0 {
		hsts = one("max-age=" + strconv.Itoa(age) + "; includeSubdomains")
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			h["X-Content-Type-Options"] = nosniff
			h["X-Frame-Options"] = deny
			// Over https only (TLS, or a proxy's X-Forwarded-Proto);
			// browsers ignore it over http anyway.
			if hsts != nil && c.Scheme() == "https" {
				h["Strict-Transport-Security"] = hsts
			}
			h["Content-Security-Policy"] = csp
			if !machinePath(c.Request().URL.Path) {
				h["Referrer-Policy"] = referrer
			}
			return next(c)
		}
	}
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
		if r.URL.RawQuery != "" {
			if q, _ := url.ParseQuery(r.URL.RawQuery); !valuesOK(q) {
				return echo.NewHTTPError(http.StatusBadRequest, "A query parameter is not valid UTF-8 text.")
			}
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
