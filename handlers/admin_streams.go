package handlers

import (
	"context"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/admin"
	"github.com/latchkey/latchkey/views/components"
)

// ShowEventStreams lists every revocation event stream, for staff.
func (h *Handler) ShowEventStreams(c echo.Context) error {
	rows, err := h.store.StreamsOverview(c.Request().Context())
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, admin.StreamsPage(admin.StreamsPageProps{Shell: shell(c, "Event streams", "streams"), Rows: rows}))
}

// streamAction is one of the staff actions on a stream: what its
// confirmation says and what it does. Each one is audited by models,
// naming the staff member.
type streamAction struct {
	title  string // with %s for the receiver
	lines  []string
	submit string
	danger bool
	do     func(ctx context.Context, st *models.Store, streamID string, a models.StaffAction) error
	done   string // the flash, with %s for the receiver
}

var streamActions = map[string]streamAction{
	"pause": {
		title:  "Pause %s's event stream?",
		lines:  []string{"Events are held, not sent, until the stream is enabled again; none is lost.", "While paused, the resource server does not learn of revocations: tokens it cached stay accepted there."},
		submit: "Pause", danger: true, done: "Paused %s's event stream.",
		do: func(ctx context.Context, st *models.Store, id string, a models.StaffAction) error {
			_, err := st.SetStreamStatusAs(ctx, id, models.StreamPaused, a)
			return err
		},
	},
	"enable": {
		title:  "Enable %s's event stream?",
		lines:  []string{"Events held while the stream was paused are delivered first, in order."},
		submit: "Enable", done: "Enabled %s's event stream.",
		do: func(ctx context.Context, st *models.Store, id string, a models.StaffAction) error {
			_, err := st.SetStreamStatusAs(ctx, id, models.StreamEnabled, a)
			return err
		},
	},
	"delete": {
		title:  "Delete %s's event stream?",
		lines:  []string{"Its undelivered events are dropped. The resource server stops hearing of revocations until it creates a new stream."},
		submit: "Delete", danger: true, done: "Deleted %s's event stream.",
		do: func(ctx context.Context, st *models.Store, id string, a models.StaffAction) error {
			return st.DeleteStreamAs(ctx, id, a)
		},
	},
}

// streamActionParams reads the stream and the action from the path; an
// unknown one of either is a 404.
func (h *Handler) streamActionParams(c echo.Context) (*models.Stream, *models.Client, streamAction, error) {
	act, ok := streamActions[c.Param("action")]
	if !ok {
		return nil, nil, act, echo.NewHTTPError(http.StatusNotFound, http.StatusText(http.StatusNotFound))
	}
	ctx := c.Request().Context()
	s, err := h.store.StreamByID(ctx, models.AnyOwner, c.Param("id"))
	if err != nil {
		return nil, nil, act, notFound(err, "stream")
	}
	cl, err := h.store.ClientByID(ctx, s.ClientID)
	if err != nil {
		return nil, nil, act, notFound(err, "client")
	}
	return s, cl, act, nil
}

// ShowStreamAction asks before pausing, enabling or deleting a stream.
func (h *Handler) ShowStreamAction(c echo.Context) error {
	_, cl, act, err := h.streamActionParams(c)
	if err != nil {
		return err
	}
	return confirm(c, "Event stream", components.ConfirmProps{
		Title: fmt.Sprintf(act.title, cl.Name), Lines: act.lines, Action: c.Request().URL.Path,
		ReturnTo: returnTo(c, "/admin/streams"), Region: region(c), Reason: true, Submit: act.submit, Danger: act.danger,
	})
}

// DoStreamAction pauses, enables or deletes a stream, audited, and goes
// back (303).
func (h *Handler) DoStreamAction(c echo.Context) error {
	s, cl, act, err := h.streamActionParams(c)
	if err != nil {
		return err
	}
	if err := act.do(c.Request().Context(), h.store, s.StreamID, staffAction(c)); err != nil {
		return notFound(err, "stream")
	}
	setFlash(c, fmt.Sprintf(act.done, cl.Name))
	return c.Redirect(http.StatusSeeOther, returnTo(c, "/admin/streams"))
}
