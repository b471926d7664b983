package web

import (
	"io"
	"log/slog"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/handlers"
	"github.com/latchkey/latchkey/models"
)

// New returns the HTTP server for st: every route, the middleware and the
// one error handler.
func New(cfg Config, st *models.Store, log *slog.Logger) *echo.Echo {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.Logger.SetOutput(io.Discard)
	// The audit trail records the client's address and the request ID, so
	// neither may come from a header anyone can send: the address is the
	// TCP peer, or X-Forwarded-For as told by a proxy whose network
	// is named in Config.TrustedProxies), and the ID is always our own
	// (requestID).
	e.IPExtractor = echo.ExtractIPDirect()
	if len(cfg.TrustedProxies) > 0 {
		trust := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
		for _, n := range cfg.TrustedProxies {
			trust = append(trust, echo.TrustIPRange(n))
		}
		e.IPExtractor = echo.ExtractIPFromXFFHeader(trust...)
	}
	if cfg.Events == nil {
		cfg.Events = events.NewTransmitter(st, cfg.Issuer)
	}
	h := handlers.New(handlers.Config{Issuer: cfg.Issuer, TTLs: cfg.TTLs, ThrottleHold: cfg.ThrottleHold, Events: cfg.Events}, st, log)
	e.HTTPErrorHandler = errorHandler(log)
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(st)
	}
	cfg.Metrics.WatchEvents(cfg.Events)
	useMiddleware(e, cfg, log)
	var metrics echo.HandlerFunc
	if !cfg.MetricsElsewhere {
		metrics = echo.WrapHandler(cfg.Metrics.Handler())
	}
	routes(e, h, csrf(cfg), metrics)
	return e
}
