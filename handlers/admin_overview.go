package handlers

import (
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/admin"
)

// overviewTTL is how long the overview's counts are reused. Counting the
// live rows of a million-token database takes tens of milliseconds (the
// counts are O(live tokens)); a dashboard reloaded during an incident must
// not pay that on every view, nor let many viewers multiply it. The page
// says when its numbers were counted. Lists and actions are never cached.
const overviewTTL = 15 * time.Second

// overviewCache keeps a Handler's last overview; one goroutine counts
// while the others wait for its result.
type overviewCache struct {
	mu sync.Mutex
	o  *models.Overview
	at time.Time
}

func (h *Handler) overview(c echo.Context) (*models.Overview, time.Time, error) {
	oc := &h.overviews
	oc.mu.Lock()
	defer oc.mu.Unlock()
	if oc.o != nil && time.Since(oc.at) < overviewTTL {
		return oc.o, oc.at, nil
	}
	o, err := h.store.Overview(c.Request().Context())
	if err != nil {
		return nil, time.Time{}, err
	}
	oc.o, oc.at = o, time.Now()
	return oc.o, oc.at, nil
}

// ShowOverview is the dashboard's first page: live counts and the chart of
// tokens issued and revoked per day.
func (h *Handler) ShowOverview(c echo.Context) error {
	o, at, err := h.overview(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, admin.OverviewPage(admin.OverviewPageProps{Shell: shell(c, "Overview", "overview"),
		O: o, CountedAt: at}))
}
