package web

import (
	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/handlers"
)

// adminRoutes registers the dashboard (/admin/…) and the user's own
// authorized-clients page (/o/authorized_tokens/), one line each. b already
// carries the session and CSRF middleware.
func adminRoutes(b *echo.Group, h *handlers.Handler) {
}
