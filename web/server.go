package web

import (
	"log/slog"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
)

// New returns the HTTP server for st.
func New(cfg Config, st *models.Store, log *slog.Logger) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	return e
}
