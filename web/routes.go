package web

import (
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/handlers"
	"github.com/latchkey/latchkey/static"
)

// routes registers every route, one line each. /o/ endpoints answer with
// and without their trailing slash, never with a redirect (a redirect would
// drop a POST body). metrics is nil when /metrics has a listener of its own.
func routes(e *echo.Echo, h *handlers.Handler, csrf echo.MiddlewareFunc, metrics echo.HandlerFunc) {
	// Machine endpoints: no session, no CSRF (clients authenticate).
	oauth(e, "/o/token", "POST", h.IssueToken)
	oauth(e, "/o/revoke_token", "POST, OPTIONS", h.RevokeToken)
	oauth(e, "/o/introspect", "POST", h.IntrospectToken)
	both(e, "OPTIONS", "/o/revoke_token", h.PreflightRevoke)
	e.GET("/.well-known/oauth-authorization-server", h.ShowMetadata)
	ssfRoutes(e, h)
	e.GET("/api/me", h.ShowMe)
	e.GET("/healthz", h.ShowHealth)
	e.GET("/readyz", h.ShowReady)
	if metrics != nil {
		e.GET("/metrics", metrics, loopbackOnly)
	}
	e.Any("/static/*", echo.WrapHandler(static.Handler()))

	// Browser pages: session and CSRF.
	b := e.Group("", h.LoadSession, csrf)
	b.GET("/", h.ShowHome)
	b.GET("/login", h.ShowLogin)
	b.POST("/login", h.Login)
	b.POST("/logout", h.Logout)
	b.GET("/setup", h.ShowSetup)
	b.POST("/setup", h.CompleteSetup)
	e.Any("/o/authorize", handlers.MethodNotAllowed("GET, POST"))
	e.Any("/o/authorize/", handlers.MethodNotAllowed("GET, POST"))
	bothGroup(b, "GET", "/o/authorize", h.ShowAuthorize)
	bothGroup(b, "POST", "/o/authorize", h.DecideAuthorize)
	adminRoutes(b, h)
}

// oauth registers a POST endpoint at both spellings, and a 405 with the
// Allow header for every other method.
func oauth(e *echo.Echo, path, allow string, post echo.HandlerFunc) {
	for _, p := range []string{path, path + "/"} {
		e.Any(p, handlers.MethodNotAllowed(allow))
		e.POST(p, post)
	}
}

func both(e *echo.Echo, method, path string, fn echo.HandlerFunc) {
	e.Add(method, path, fn)
	e.Add(method, path+"/", fn)
}

func bothGroup(g *echo.Group, method, path string, fn echo.HandlerFunc) {
	g.Add(method, path, fn)
	g.Add(method, path+"/", fn)
}

// ssfRoutes registers the revocation-event transmitter (OpenID SSF 1.0):
// its metadata, the SETs' public keys, stream management and RFC 8936
// polling. Every path answers with and without a trailing slash, and
// other methods with 405 and Allow.
func ssfRoutes(e *echo.Echo, h *handlers.Handler) {
	machine(e, "/.well-known/ssf-configuration", map[string]echo.HandlerFunc{"GET": h.ShowSSFConfiguration})
	machine(e, "/o/jwks", map[string]echo.HandlerFunc{"GET": h.ShowJWKS})
	machine(e, "/ssf/stream", map[string]echo.HandlerFunc{"POST": h.CreateStream, "GET": h.ShowStreams,
		"PATCH": h.UpdateStream, "PUT": h.ReplaceStream, "DELETE": h.DeleteStream})
	machine(e, "/ssf/status", map[string]echo.HandlerFunc{"GET": h.ShowStreamStatus, "POST": h.UpdateStreamStatus})
	machine(e, "/ssf/verify", map[string]echo.HandlerFunc{"POST": h.VerifyStream})
	machine(e, "/ssf/poll/:stream_id", map[string]echo.HandlerFunc{"POST": h.PollStream})
}

// machine registers a JSON endpoint's methods at both spellings of path,
// and a 405 with the Allow header for every other method.
func machine(e *echo.Echo, path string, methods map[string]echo.HandlerFunc) {
	var allow []string
	for m := range methods {
		allow = append(allow, m)
	}
	slices.Sort(allow)
	for _, p := range []string{path, path + "/"} {
		e.Any(p, handlers.MethodNotAllowed(strings.Join(allow, ", ")))
		for m, fn := range methods {
			e.Add(m, p, fn)
		}
	}
}
