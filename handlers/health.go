package handlers

import (
	"context"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// readyTimeout bounds the readiness check: a database that takes longer
// to accept a write than this is not ready either.
const readyTimeout = 5 * time.Second

// readyFresh is how long a successful readiness probe is reused. The probe
// takes the database's write lock for a moment; /readyz is public (load
// balancers ask it), so a flood of it must not queue behind or in front of
// revocations. A failure is never reused: recovery shows at once.
const readyFresh = time.Second

// readiness runs one probe at a time and reuses a success for readyFresh:
// callers that arrive during a probe wait for its answer.
type readiness struct {
	mu sync.Mutex
	ok time.Time // when the last probe succeeded
}

func (r *readiness) check(ctx context.Context, probe func(context.Context) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ok.IsZero() && time.Since(r.ok) < readyFresh {
		return nil
	}
	if err := probe(ctx); err != nil {
		r.ok = time.Time{}
		return err
	}
	r.ok = time.Now()
	return nil
}

// ShowHealth is liveness: the process answers.
func (h *Handler) ShowHealth(c echo.Context) error {
	return c.String(200, "ok\n")
}

// ShowReady is readiness: the database answers and can take a write now
// (not read-only, not full), so a load balancer stops sending traffic
// that could only fail. A success is reused for a second (readiness).
func (h *Handler) ShowReady(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	if err := h.ready.check(ctx, h.store.Ready); err != nil {
		h.log.Warn("readiness check failed", "err", err)
		c.Response().Header().Set("Retry-After", "5")
		return c.String(503, "database unavailable\n")
	}
	return c.String(200, "ok\n")
}
