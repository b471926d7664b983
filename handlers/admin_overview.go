package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/views/admin"
)

// ShowOverview is the dashboard's first page: the live counts, the leak
// signals of the last 24 hours and the chart of tokens issued and revoked
// per day. Nothing is cached: the counts are kept exact by the writes, and
// reading them is a few index ranges.
func (h *Handler) ShowOverview(c echo.Context) error {
	o, err := h.store.Overview(c.Request().Context())
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, admin.OverviewPage(admin.OverviewPageProps{Shell: shell(c, "Overview", "overview"), O: o}))
}
