package web

import (
	"net"
	"time"

	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/models"
)

// Config is what `latchkey serve` decides.
type Config struct {
	// Issuer is the server's public base URL (RFC 8414 issuer), e.g.
	// "http://127.0.0.1:8000". Cookies are Secure when it is https.
	Issuer string
	// TTLs are the lifetimes of access tokens, refresh tokens and codes.
	TTLs models.TTLs
	// TrustedProxies are the networks of load balancers whose
	// X-Forwarded-For is believed for the client address (audit trail,
	// access log). Empty: the TCP peer is the client, and the header is
	// ignored, since any client can send it.
	TrustedProxies []*net.IPNet
	// ThrottleHold is how long a login refused by the password throttle is
	// held before its 429 (0: one second; negative: not held, for tests).
	ThrottleHold time.Duration
	// Metrics is the server's Prometheus registry; nil gives the server
	// one of its own.
	Metrics *Metrics
	// MetricsElsewhere: /metrics has a listener of its own (serve
	// --metrics-addr, serving Metrics.Handler), so the main listener does
	// not serve it at all. Otherwise the main listener serves it to
	// loopback clients only.
	MetricsElsewhere bool
	// Events is the revocation-event transmitter, shared with the push
	// worker that `serve` runs beside the server; nil gives the server one
	// of its own (tests that need no worker).
	Events *events.Transmitter
}
