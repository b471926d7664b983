package handlers

import (
	"github.com/labstack/echo/v4"
)

// ShowHealth is liveness: the process answers.
func (h *Handler) ShowHealth(c echo.Context) error {
	return c.String(200, "ok\n")
}

// ShowReady is readiness: the database answers too.
func (h *Handler) ShowReady(c echo.Context) error {
	if err := h.store.Ping(c.Request().Context()); err != nil {
		h.log.Warn("readiness check failed", "err", err)
		c.Response().Header().Set("Retry-After", "5")
		return c.String(503, "database unavailable\n")
	}
	return c.String(200, "ok\n")
}
