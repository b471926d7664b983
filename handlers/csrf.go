package handlers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// CSRFContextKey is where the CSRF middleware leaves the request's token.
const CSRFContextKey = "csrf"

// CSRFToken returns the token forms must carry.
func CSRFToken(c echo.Context) string {
	s, _ := c.Get(CSRFContextKey).(string)
	return s
}

// secureCookiesKey is where the browser middleware records whether the
// handlers' own cookies (the flash) must be Secure.
const secureCookiesKey = "latchkey.secure_cookies"

// secureCookies reports whether cookies set on this request must be Secure.
func secureCookies(c echo.Context) bool {
	s, _ := c.Get(secureCookiesKey).(bool)
	return s
}

// preSessionCookie holds a random value that anonymous forms (login,
// setup) derive their token from. Under an https issuer it carries the
// __Host- prefix, so browsers refuse it from a sibling domain or over http.
const preSessionCookie = "latchkey_csrf"

// CSRF returns the middleware that protects every browser form. A request
// is refused with 403 when:
//
//   - the browser says it comes from another site (Sec-Fetch-Site other
//     than same-origin or none, or else an Origin that is neither this host
//     nor the issuer's) — this covers sibling subdomains, which can plant
//     cookies; or
//   - its token (hidden "csrf" field, or X-CSRF-Token from htmx) is not the
//     one this request's session yields.
//
// A logged-in request's token is an HMAC keyed by the raw session value,
// which only the server and the browser's HttpOnly session cookie know: a
// cookie someone else plants cannot produce it, it changes at every login,
// and replicas need no shared key. Before login there is no session to bind
// to; the token comes from a random pre-session cookie. A sibling domain
// could plant that cookie with a value it knows (on http issuers; https
// ones use __Host-), so against login forgery the origin check is what
// counts there.
//
// skip names requests the middleware leaves alone (machine endpoints).
func CSRF(cfg Config, skip func(echo.Context) bool) echo.MiddlewareFunc {
	secure := cfg.SecureCookies()
	cookieName := preSessionCookie
	if secure {
		cookieName = "__Host-" + preSessionCookie
	}
	origins := http.NewCrossOriginProtection()
	if u, err := url.Parse(cfg.Issuer); err == nil && u.Scheme != "" && u.Host != "" {
		// Behind a proxy that rewrites Host, the issuer's origin is still ours.
		_ = origins.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if skip(c) {
				return next(c)
			}
			c.Set(secureCookiesKey, secure)
			r := c.Request()
			var want string
			if ck, err := c.Cookie(cfg.SessionCookieName()); err == nil && UserFrom(c) != nil {
				// LoadSession accepted this cookie (the first of the name,
				// as here): the token is bound to that session.
				want = csrfMAC(ck.Value, "session")
			} else {
				ck, err := c.Cookie(cookieName)
				if err != nil || len(ck.Value) < 32 || len(ck.Value) > 128 {
					ck = &http.Cookie{Name: cookieName, Value: randomValue(), Path: "/", HttpOnly: true,
						Secure: secure, SameSite: http.SameSiteLaxMode, MaxAge: 86400}
					c.SetCookie(ck)
				}
				want = csrfMAC(ck.Value, "pre-session")
			}
			c.Set(CSRFContextKey, want)
			switch r.Method {
			case http.MethodGet, http.MethodHead, http.MethodOptions:
				return next(c)
			}
			if err := origins.Check(r); err != nil {
				return forbidden().SetInternal(err)
			}
			got := r.Header.Get("X-CSRF-Token")
			if got == "" {
				// The body only: a token in the query string would leak
				// into logs and Referer headers.
				_ = r.ParseForm()
				got = r.PostForm.Get("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
				return forbidden()
			}
			return next(c)
		}
	}
}

func forbidden() *echo.HTTPError {
	return echo.NewHTTPError(http.StatusForbidden, "The form has expired or did not come from this site. Go back, reload the page and try again.")
}

// csrfMAC derives a form token from a secret the browser holds in an
// HttpOnly cookie; purpose keeps session and pre-session tokens apart.
func csrfMAC(secret, purpose string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("latchkey csrf " + purpose))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func randomValue() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}
