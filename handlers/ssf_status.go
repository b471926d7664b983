package handlers

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
)

// streamStatus is SSF 1.0 §8.1.2's status object.
type streamStatus struct {
	StreamID *string `json:"stream_id"`
	Status   string  `json:"status"`
	Reason   string  `json:"reason,omitempty"`
}

// ShowStreamStatus is GET /ssf/status?stream_id= (SSF 1.0 §8.1.2.1).
func (h *Handler) ShowStreamStatus(c echo.Context) error {
	client, err := h.authenticateReceiver(c)
	if err != nil {
		return err
	}
	id := c.QueryParam("stream_id")
	if id == "" {
		return ErrInvalidRequest.WithDescription("stream_id is required")
	}
	s, err := h.store.StreamByID(c.Request().Context(), client.ID, id)
	if err != nil {
		return modelError(err)
	}
	return writeJSON(c, http.StatusOK, streamStatus{StreamID: &s.StreamID, Status: string(s.Status), Reason: s.StatusReason})
}

// UpdateStreamStatus is POST /ssf/status (SSF 1.0 §8.1.2.2): enabled,
// paused (events are held) or disabled (events are dropped).
func (h *Handler) UpdateStreamStatus(c echo.Context) error {
	var r streamStatus
	client, id, err := h.receiverRequest(c, &r, &r.StreamID)
	if err != nil {
		return err
	}
	switch models.StreamStatus(r.Status) {
	case models.StreamEnabled, models.StreamPaused, models.StreamDisabled:
	default:
		return ErrInvalidRequest.WithDescription("status must be enabled, paused or disabled")
	}
	s, err := h.store.SetStreamStatus(c.Request().Context(), client.ID, id, models.StreamStatus(r.Status), r.Reason)
	if err != nil {
		return modelError(err)
	}
	return writeJSON(c, http.StatusOK, streamStatus{StreamID: &s.StreamID, Status: string(s.Status), Reason: s.StatusReason})
}

// verifyRequest is SSF 1.0 §8.1.4.2's verification request.
type verifyRequest struct {
	StreamID *string `json:"stream_id"`
	State    string  `json:"state"`
}

// VerifyStream is POST /ssf/verify (SSF 1.0 §8.1.4.2): a verification SET
// carrying state is queued on the stream, behind its other events; 204.
func (h *Handler) VerifyStream(c echo.Context) error {
	var r verifyRequest
	client, id, err := h.receiverRequest(c, &r, &r.StreamID)
	if err != nil {
		return err
	}
	if err := h.store.QueueVerification(c.Request().Context(), client.ID, id, r.State); err != nil {
		var soon *models.TooSoonError
		if errors.As(err, &soon) {
			// RFC 6585 §4: too many requests; SSF 1.0 §8.1.4.2 lets the
			// transmitter limit verification to min_verification_interval.
			c.Response().Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(soon.RetryAfter.Seconds()))))
			return &OAuthError{Code: "slow_down", Status: http.StatusTooManyRequests,
				Description: fmt.Sprintf("at most one verification request per %d seconds (min_verification_interval)", int(models.MinVerificationInterval.Seconds()))}
		}
		return modelError(err)
	}
	noStore(c)
	return c.NoContent(http.StatusNoContent)
}
