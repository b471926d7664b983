package handlers

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/throttle"
)

// Config is what handlers need to know about the deployment.
type Config struct {
	Issuer string      // public base URL, no trailing slash
	TTLs   models.TTLs // token and code lifetimes
	// ThrottleHold is how long a password check refused by the throttle
	// is held before its 429 is sent (never longer than the wait the 429
	// announces); 0 means DefaultThrottleHold, negative means not at all.
	ThrottleHold time.Duration
	// Events is the revocation-event transmitter (SSF endpoints, poll);
	// nil: New makes one for Issuer.
	Events *events.Transmitter
}

// DefaultThrottleHold is how long a throttled login is held by default.
// Answering a refused guess at once would let each connection of a flood
// cost the server a request every fraction of a millisecond; held for a
// second, sixteen connections cost sixteen cheap requests a second.
const DefaultThrottleHold = time.Second

// SecureCookies reports whether cookies must be Secure (an https issuer).
func (c Config) SecureCookies() bool { return strings.HasPrefix(c.Issuer, "https://") }

// SessionCookieName is the login cookie's name. Under an https issuer it
// carries the __Host- prefix: browsers then refuse the cookie unless it is
// Secure, host-only and for path /, so a sibling domain cannot plant its
// own session (logging a victim into the attacker's account).
func (c Config) SessionCookieName() string {
	if c.SecureCookies() {
		return "__Host-" + SessionCookie
	}
	return SessionCookie
}

// Handler carries the dependencies every handler method shares.
type Handler struct {
	store    *models.Store
	cfg      Config
	log      *slog.Logger
	throttle *throttle.Limiter // password guessing, per replica (see checkPassword)
	ready    readiness         // /readyz's probe, one at a time
	events   *events.Transmitter
}

// New returns the handlers over st.
func New(cfg Config, st *models.Store, log *slog.Logger) *Handler {
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	if cfg.ThrottleHold == 0 {
		cfg.ThrottleHold = DefaultThrottleHold
	}
	tx := cfg.Events
	if tx == nil {
		tx = events.NewTransmitter(st, cfg.Issuer)
	}
	return &Handler{store: st, cfg: cfg, log: log, throttle: throttle.New(throttle.Config{Now: st.Now}), events: tx}
}

type ctxKey int

const userKey ctxKey = iota

// WithUser returns a request context carrying the logged-in user.
func WithUser(ctx context.Context, u *models.User) context.Context {
	return context.WithValue(ctx, userKey, u)
}

// UserFrom returns the logged-in user, or nil.
func UserFrom(c echo.Context) *models.User {
	u, _ := c.Request().Context().Value(userKey).(*models.User)
	return u
}

// remote is the client address for the audit trail.
func remote(c echo.Context) string { return c.RealIP() }

// userAgent is the request's User-Agent, as sent (models cleans it).
func userAgent(c echo.Context) string { return c.Request().UserAgent() }

// seen is where the request came from, for a grant to record.
func seen(c echo.Context) models.Seen { return models.Seen{Addr: remote(c), UserAgent: userAgent(c)} }

// requestID is the request's ID, set by the request-ID middleware. The
// header's name is spelled as net/http stores it, which Get then uses as
// is.
func requestID(c echo.Context) string {
	return c.Response().Header().Get("X-Request-Id")
}

// Header values shared by every response that carries them, put straight
// into the header map (canonical names, no slice made per request). They
// are never changed in place: Set replaces a slice, and Add appends to a
// full one, which copies it.
var (
	noStoreValue = []string{"no-store"}[:1:1]
	noCacheValue = []string{"no-cache"}[:1:1]
	jsonType     = []string{echo.MIMEApplicationJSON}[:1:1]
	varyOrigin   = []string{echo.HeaderOrigin}[:1:1]
)

// noStore marks a response as uncacheable (RFC 6749 §5.1).
func noStore(c echo.Context) {
	h := c.Response().Header()
	h["Cache-Control"] = noStoreValue
	h["Pragma"] = noCacheValue
}

// jsonBufs holds the buffers the token and introspection answers, the
// busiest, are encoded into: net/http copies an answer's body before
// Write returns, so a buffer can serve the next answer, and a fresh one
// for each answer was a tenth of the bytes an introspection allocated in
// the server (TestIntrospectionAllocations). A buffer is zeroed before it
// goes back (a token answer holds the tokens), and one that grew past
// 4 KiB is not kept.
var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// writePooledJSON answers the JSON that encode appends to a pooled buffer,
// as writeJSONBytes.
func writePooledJSON(c echo.Context, status int, encode func([]byte) []byte) error {
	bp := jsonBufs.Get().(*[]byte)
	b := encode((*bp)[:0])
	err := writeJSONBytes(c, status, b)
	if cap(b) <= 4096 {
		clear(b)
		*bp = b[:0]
		jsonBufs.Put(bp)
	}
	return err
}

// writeJSONBytes answers b, an encoded JSON document, with no-store
// caching.
func writeJSONBytes(c echo.Context, status int, b []byte) error {
	noStore(c)
	c.Response().Header()["Content-Type"] = jsonType
	return c.Blob(status, echo.MIMEApplicationJSON, b)
}

// writeJSON answers v with no-store caching.
func writeJSON(c echo.Context, status int, v any) error {
	noStore(c)
	return c.JSON(status, v)
}

// MethodNotAllowed answers any method an /o/ endpoint does not take.
func MethodNotAllowed(allow string) echo.HandlerFunc {
	return func(c echo.Context) error {
		c.Response().Header().Set(echo.HeaderAllow, allow)
		return ErrMethodNotAllowed.WithDescription("use " + allow)
	}
}
