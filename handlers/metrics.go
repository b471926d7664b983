package handlers

import (
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"
)

// ShowMetrics is GET /metrics, in Prometheus' text format: the counters
// that have no audit event behind them, such as revocation requests for
// unknown tokens, which write no audit event and are counted here instead.
func (h *Handler) ShowMetrics(c echo.Context) error {
	st := h.store.Stats()
	var b strings.Builder
	metric := func(name, help string, v int64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	metric("latchkey_revocations_unknown_token_total", "Revocation requests naming a token Latchkey does not know.", st.UnknownTokenRevocations)
	metric("latchkey_write_commits_total", "Write transactions committed (each one fsync on SQLite).", st.Commits)
	metric("latchkey_writes_total", "Writes carried by those commits (group commit).", st.Writes)
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.Blob(200, "text/plain; version=0.0.4; charset=utf-8", []byte(b.String()))
}
