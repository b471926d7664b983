package handlers

import (
	"context"
	"encoding/csv"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/admin"
)

// ShowAudit lists the audit trail, newest first, filtered by actor, client,
// user, action and a range of days.
func (h *Handler) ShowAudit(c echo.Context) error {
	form := auditForm(c)
	p := admin.AuditPageProps{Shell: shell(c, "Audit", "audit"), Filter: form,
		CSV: "/admin/audit.csv?" + csvQuery(c)}
	f, err := h.auditFilter(c.Request().Context(), form)
	if err != nil {
		if !errors.Is(err, models.ErrInvalid) && !errors.Is(err, models.ErrNotFound) {
			return err
		}
		p.FilterError = userMessage(err)
		return render(c, http.StatusOK, admin.AuditPage(p))
	}
	list, err := h.store.ListAudit(c.Request().Context(), f, cursor(c), pageSize)
	if err != nil {
		return err
	}
	p.Rows, p.Pager = list.Rows, pager(c, list.HasNext, list.Next)
	return render(c, http.StatusOK, admin.AuditPage(p))
}

func auditForm(c echo.Context) admin.AuditFilterForm {
	return admin.AuditFilterForm{Actor: c.QueryParam("actor"), Client: c.QueryParam("client"), User: c.QueryParam("user"),
		Action: c.QueryParam("action"), From: c.QueryParam("from"), To: c.QueryParam("to"), Since: c.QueryParam("since")}
}

// csvQuery is the page's filter without its page position.
func csvQuery(c echo.Context) string {
	q := c.QueryParams()
	out := make(map[string][]string, len(q))
	for k, v := range q {
		if k != "before" {
			out[k] = v
		}
	}
	return encodeQuery(out)
}

func encodeQuery(q map[string][]string) string {
	var b strings.Builder
	for _, k := range []string{"actor", "client", "user", "action", "from", "to", "since"} {
		if v := q[k]; len(v) > 0 && v[0] != "" {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(k + "=" + urlEscape(v[0]))
		}
	}
	return b.String()
}

// errBadDate refuses a from or to date the filter cannot read.
var errBadDate = &models.ValidationError{Field: "date", Message: "Dates look like 2025-01-31."}

// errBadSince refuses a since time the filter cannot read.
var errBadSince = &models.ValidationError{Field: "since", Message: "Since is a time like 2025-01-31T08:00:00Z."}

// auditFilter resolves the names and dates typed in the filter form.
func (h *Handler) auditFilter(ctx context.Context, form admin.AuditFilterForm) (models.AuditFilter, error) {
	f := models.AuditFilter{Actor: strings.TrimSpace(form.Actor)}
	var err error
	if f.Action, err = models.ParseAction(form.Action); err != nil {
		return f, err
	}
	if f.UserID, f.ClientID, err = h.filterIDs(ctx, form.User, form.Client); err != nil {
		return f, err
	}
	if form.From != "" {
		if f.From, err = time.Parse(time.DateOnly, form.From); err != nil {
			return f, errBadDate
		}
	}
	if form.To != "" {
		to, err := time.Parse(time.DateOnly, form.To)
		if err != nil {
			return f, errBadDate
		}
		f.To = to.AddDate(0, 0, 1) // the To day is included
	}
	if form.Since != "" {
		since, err := time.Parse(time.RFC3339Nano, form.Since)
		if err != nil {
			return f, errBadSince
		}
		if since.After(f.From) {
			f.From = since
		}
	}
	return f, nil
}

// AuditCSVHeader is the export's header row. It is stable: scripts read
// these columns by name, and a golden file pins it.
var AuditCSVHeader = []string{"id", "time", "actor_type", "actor", "action", "grant_id", "user", "client_id",
	"client_name", "grants", "tokens", "reason", "remote_addr", "request_id", "count"}

// ExportAuditCSV streams the audit events matching the page's filters as
// CSV, newest first, page by page over the same keyset query.
func (h *Handler) ExportAuditCSV(c echo.Context) error {
	ctx := c.Request().Context()
	f, err := h.auditFilter(ctx, auditForm(c))
	if err != nil {
		if errors.Is(err, models.ErrInvalid) || errors.Is(err, models.ErrNotFound) {
			return echo.NewHTTPError(http.StatusBadRequest, userMessage(err))
		}
		return err
	}
	// Read the first page before committing to a 200.
	list, err := h.store.ListAudit(ctx, f, models.Cursor{}, 500)
	if err != nil {
		return err
	}
	hdr := c.Response().Header()
	hdr.Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	hdr.Set(echo.HeaderContentDisposition, `attachment; filename="latchkey-audit.csv"`)
	hdr.Set(echo.HeaderCacheControl, "no-store")
	c.Response().WriteHeader(http.StatusOK)
	w := csv.NewWriter(c.Response())
	if err := w.Write(AuditCSVHeader); err != nil {
		return nil // the client went away
	}
	for {
		for _, e := range list.Rows {
			rec := []string{strconv.FormatInt(e.ID, 10), e.CreatedAt.UTC().Format(time.RFC3339Nano), string(e.ActorType),
				e.Actor, string(e.Action), optID(e.GrantID), e.Username, e.ClientPublicID, e.ClientName,
				strconv.Itoa(e.Grants), strconv.Itoa(e.Tokens), e.Reason, e.RemoteAddr, e.RequestID, strconv.Itoa(e.Count)}
			for i, col := range AuditCSVHeader {
				if !csvOurs[col] && !(col == "actor" && e.ActorType == models.ActorClient) {
					rec[i] = csvSafe(rec[i])
				}
			}
			if err := w.Write(rec); err != nil {
				return nil
			}
		}
		w.Flush()
		if !list.HasNext || w.Error() != nil {
			break
		}
		if list, err = h.store.ListAudit(ctx, f, list.Next, 500); err != nil {
			// The header is sent: all that is left is to stop, and log.
			h.log.Error("audit export", "err", err, "request_id", requestID(c))
			break
		}
	}
	w.Flush()
	return nil
}

func optID(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}

// csvSafe keeps a spreadsheet from running a cell as a formula (CSV
// injection, OWASP): a cell starting with = + - @ tab or CR gets a leading
// '. It is applied to every cell whose text came from outside (usernames
// as typed at the login page, names, reasons, addresses), never to the
// columns Latchkey fills with its own values (csvOurs): scripts must get
// the exact client id or request id to look up, and those can start with -.
func csvSafe(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return s
	}
	return "'" + s
}

// csvOurs marks the AuditCSVHeader columns that hold only values Latchkey
// generates: numbers, times, fixed names and ids from the token alphabet
// (A–Z a–z 0–9 - _). The actor column is ours only for client actors,
// whose name is a client id; see auditRecord.
var csvOurs = map[string]bool{"id": true, "time": true, "actor_type": true, "action": true, "grant_id": true,
	"client_id": true, "grants": true, "tokens": true, "request_id": true, "count": true}
