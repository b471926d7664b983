package handlers

import (
	"context"
	"time"

	"github.com/labstack/echo/v4"
)

// readyTimeout bounds the readiness check: a database that takes longer
// to accept a write than this is not ready either.
const readyTimeout = 5 * time.Second

// ShowHealth is liveness: the process answers.
func (h *Handler) ShowHealth(c echo.Context) error {
	return c.String(200, "ok\n")
}

// ShowReady is readiness: the database answers and can take a write now
// (not read-only, not full), so a load balancer stops sending traffic
// that could only fail.
func (h *Handler) ShowReady(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
	defer cancel()
	if err := h.store.Ready(ctx); err != nil {
		h.log.Warn("readiness check failed", "err", err)
		c.Response().Header().Set("Retry-After", "5")
		return c.String(503, "database unavailable\n")
	}
	return c.String(200, "ok\n")
}
