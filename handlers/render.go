package handlers

import (
	"bytes"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/views/layout"
)

// render writes a templ component. It renders into a buffer first, so a
// render error still becomes a clean error page rather than half a page.
func render(c echo.Context, status int, cmp templ.Component) error {
	var buf bytes.Buffer
	if err := cmp.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// page returns the shell props for the current request.
func page(c echo.Context, title, section string) layout.Page {
	return layout.Page{Title: title, CSRF: CSRFToken(c), User: UserFrom(c), Section: section}
}
