package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/models"
)

// pollRequest is RFC 8936 §2.4's poll request.
type pollRequest struct {
	MaxEvents         *int                      `json:"maxEvents"`
	ReturnImmediately bool                      `json:"returnImmediately"`
	Ack               []string                  `json:"ack"`
	SetErrs           map[string]map[string]any `json:"setErrs"`
}

// PollStream is POST /ssf/poll/<stream_id> (RFC 8936): acknowledges the
// SETs in ack (and setErrs), then answers up to maxEvents SETs not yet
// acknowledged; without returnImmediately it waits up to events.LongPoll
// for one. Only the stream's receiver may poll it.
func (h *Handler) PollStream(c echo.Context) error {
	client, err := h.authenticateReceiver(c)
	if err != nil {
		return err
	}
	var r pollRequest
	if err := decodeJSON(c, &r); err != nil {
		return err
	}
	maxEvents := events.DefaultMaxEvents
	if r.MaxEvents != nil {
		maxEvents = *r.MaxEvents
	}
	if maxEvents < 0 || maxEvents > events.MaxMaxEvents {
		return ErrInvalidRequest.WithDescription("maxEvents must be between 0 and 1000")
	}
	if len(r.Ack)+len(r.SetErrs) > events.MaxMaxEvents {
		return ErrInvalidRequest.WithDescription("acknowledge at most 1000 SETs per poll")
	}
	ctx := c.Request().Context()
	stream, err := h.store.StreamByID(ctx, client.ID, c.Param("stream_id"))
	if err != nil {
		return modelError(err)
	}
	if stream.Method != models.DeliveryPoll {
		return ErrInvalidRequest.WithDescription("the stream delivers by push; change its delivery method to urn:ietf:rfc:8936 to poll it")
	}
	ack := r.Ack
	for jti := range r.SetErrs {
		ack = append(ack, jti)
	}
	wait := events.LongPoll
	if r.ReturnImmediately {
		wait = 0
	}
	resp, err := h.events.Poll(ctx, stream, maxEvents, wait, ack)
	if err != nil {
		if ctx.Err() != nil {
			return nil // the receiver hung up
		}
		return modelError(err)
	}
	return writeJSON(c, http.StatusOK, resp)
}
