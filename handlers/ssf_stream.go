package handlers

import (
	"encoding/json"
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/events"
	"github.com/latchkey/latchkey/models"
)

// streamConfig is SSF 1.0 §8.1.1's stream configuration as the
// transmitter answers it. The push stream's authorization_header is the
// receiver's secret: kept, sent with every push, never echoed back.
type streamConfig struct {
	StreamID        string         `json:"stream_id"`
	Iss             string         `json:"iss"`
	Aud             string         `json:"aud"`
	EventsSupported []string       `json:"events_supported"`
	EventsRequested []string       `json:"events_requested"`
	EventsDelivered []string       `json:"events_delivered"`
	Delivery        streamDelivery `json:"delivery"`
	Description     string         `json:"description,omitempty"`
	// MinVerificationInterval is the least number of seconds between two
	// verification requests (SSF 1.0 §8.1.1).
	MinVerificationInterval int `json:"min_verification_interval"`
}

type streamDelivery struct {
	Method      string `json:"method"`
	EndpointURL string `json:"endpoint_url,omitempty"`
	// AuthorizationHeader is read from requests only.
	AuthorizationHeader *string `json:"authorization_header,omitempty"`
}

// streamRequest is what a receiver sends to create, update or replace a
// stream. Transmitter-supplied members (iss, events_supported,
// events_delivered) are ignored.
type streamRequest struct {
	StreamID        *string         `json:"stream_id"`
	Aud             json.RawMessage `json:"aud"`
	Delivery        *streamDelivery `json:"delivery"`
	EventsRequested *[]string       `json:"events_requested"`
	Description     *string         `json:"description"`
}

// deliveryMethods maps SSF's method URNs to the stored methods.
var deliveryMethods = map[string]models.DeliveryMethod{events.DeliveryPush: models.DeliveryPush, events.DeliveryPoll: models.DeliveryPoll}

func (h *Handler) streamConfigOf(s *models.Stream) streamConfig {
	out := streamConfig{StreamID: s.StreamID, Iss: h.cfg.Issuer, Aud: s.Aud, EventsSupported: events.EventsSupported,
		EventsRequested: s.EventsRequested, Description: s.Description, MinVerificationInterval: int(models.MinVerificationInterval.Seconds())}
	if out.EventsRequested == nil {
		out.EventsRequested = []string{}
	}
	// No events_requested means every supported type (SSF 1.0 §8.1.1:
	// events_delivered is what the transmitter will send).
	out.EventsDelivered = []string{}
	for _, e := range events.EventsSupported {
		if len(s.EventsRequested) == 0 || slices.Contains(s.EventsRequested, e) {
			out.EventsDelivered = append(out.EventsDelivered, e)
		}
	}
	switch s.Method {
	case models.DeliveryPoll:
		out.Delivery = streamDelivery{Method: events.DeliveryPoll, EndpointURL: events.PollURL(h.cfg.Issuer, s.StreamID)}
	default:
		out.Delivery = streamDelivery{Method: events.DeliveryPush, EndpointURL: s.ShownEndpoint()}
	}
	return out
}

// config turns a create or replace request of receiver into a stream
// configuration; stream is the stream being replaced, or nil.
func (h *Handler) config(receiver *models.Client, r streamRequest, stream *models.Stream) (models.StreamConfig, error) {
	var c models.StreamConfig
	if r.Delivery == nil {
		return c, ErrInvalidRequest.WithDescription("delivery is required: {\"method\": \"urn:ietf:rfc:8935\", \"endpoint_url\": …} or {\"method\": \"urn:ietf:rfc:8936\"}")
	}
	if _, err := h.delivery(*r.Delivery, stream, &c.Method, &c.EndpointURL, &c.AuthorizationHeader); err != nil {
		return c, err
	}
	if err := checkAudience(receiver, r.Aud); err != nil {
		return c, err
	}
	if r.EventsRequested != nil {
		c.EventsRequested = *r.EventsRequested
	}
	if r.Description != nil {
		c.Description = *r.Description
	}
	return c, nil
}

// delivery reads a delivery object. A poll stream's endpoint_url is the
// transmitter's to give; a receiver sending back the configuration it was
// given (the stream's own poll URL) is not refused for it.
//
// A push endpoint_url with user information (https://user:pw@host/…) is a
// credential: it becomes the stream's Authorization header, as it would be
// sent anyway, and the URL is kept without it, so that the password is
// never echoed in the configuration, shown on the dashboard or logged.
// authzSet reports that *authz was set, by authorization_header or so.
func (h *Handler) delivery(d streamDelivery, stream *models.Stream, method *models.DeliveryMethod, url, authz *string) (authzSet bool, err error) {
	m, ok := deliveryMethods[d.Method]
	if !ok {
		return false, ErrInvalidRequest.WithDescription("delivery.method must be urn:ietf:rfc:8935 (push) or urn:ietf:rfc:8936 (poll)")
	}
	*method, *url = m, d.EndpointURL
	if d.AuthorizationHeader != nil {
		*authz, authzSet = *d.AuthorizationHeader, true
	}
	if m == models.DeliveryPoll && stream != nil && d.EndpointURL == events.PollURL(h.cfg.Issuer, stream.StreamID) {
		*url = ""
	}
	if m == models.DeliveryPush {
		if err := h.events.CheckPushEndpoint(d.EndpointURL); err != nil {
			return false, ErrInvalidRequest.WithDescription(err.Error())
		}
		if stripped, cred, ok := models.SplitEndpointCredentials(d.EndpointURL); ok {
			if d.AuthorizationHeader != nil && *d.AuthorizationHeader != "" {
				return false, ErrInvalidRequest.WithDescription("give the push credential once: in delivery.authorization_header, or as user:password in endpoint_url, not both")
			}
			*url, *authz, authzSet = stripped, cred, true
		}
	}
	return authzSet, nil
}

// checkAudience reads the aud a receiver sent: a string or an array of
// one string. The transmitter sets aud (SSF 1.0 §8.1.1): it is always the
// owning receiver's client_id, so that a receiver cannot obtain SETs
// addressed to another resource server. Sending that value back is
// accepted; any other is 400.
func checkAudience(receiver *models.Client, raw json.RawMessage) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var aud string
	var many []string
	switch {
	case json.Unmarshal(raw, &aud) == nil:
	case json.Unmarshal(raw, &many) == nil && len(many) == 1:
		aud = many[0]
	default:
		return ErrInvalidRequest.WithDescription("aud must be a string")
	}
	if aud != receiver.ClientID {
		return ErrInvalidRequest.WithDescription("aud is set by the transmitter: it is always the receiver's client_id")
	}
	return nil
}

// streamIDOf reads the stream_id a request names, which is required.
func streamIDOf(id *string) (string, error) {
	if id == nil || *id == "" {
		return "", ErrInvalidRequest.WithDescription("stream_id is required")
	}
	return *id, nil
}

// receiverRequest is how the stream endpoints that name a stream in their
// body begin: authenticate the receiver, read the JSON body into v, and
// return the caller with the stream_id that id (a member of v) holds.
func (h *Handler) receiverRequest(c echo.Context, v any, id **string) (*models.Client, string, error) {
	client, err := h.authenticateReceiver(c)
	if err != nil {
		return nil, "", err
	}
	if err := decodeJSON(c, v); err != nil {
		return nil, "", err
	}
	sid, err := streamIDOf(*id)
	return client, sid, err
}

// CreateStream is POST /ssf/stream (SSF 1.0 §8.1.1.1): a new stream owned
// by the calling receiver, enabled at once; 201 with its configuration.
func (h *Handler) CreateStream(c echo.Context) error {
	client, err := h.authenticateReceiver(c)
	if err != nil {
		return err
	}
	var r streamRequest
	if err := decodeJSON(c, &r); err != nil {
		return err
	}
	cfg, err := h.config(client, r, nil)
	if err != nil {
		return err
	}
	s, err := h.store.CreateStream(c.Request().Context(), client.ID, cfg)
	if err != nil {
		return modelError(err)
	}
	return writeJSON(c, http.StatusCreated, h.streamConfigOf(s))
}

// ShowStreams is GET /ssf/stream (SSF 1.0 §8.1.1.2): with ?stream_id= one
// of the caller's streams, without it all of them as an array.
func (h *Handler) ShowStreams(c echo.Context) error {
	client, err := h.authenticateReceiver(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if id := c.QueryParam("stream_id"); id != "" {
		s, err := h.store.StreamByID(ctx, client.ID, id)
		if err != nil {
			return modelError(err)
		}
		return writeJSON(c, http.StatusOK, h.streamConfigOf(s))
	}
	list, err := h.store.StreamsByOwner(ctx, client.ID)
	if err != nil {
		return modelError(err)
	}
	out := make([]streamConfig, 0, len(list))
	for i := range list {
		out = append(out, h.streamConfigOf(&list[i]))
	}
	return writeJSON(c, http.StatusOK, out)
}

// UpdateStream is PATCH /ssf/stream (SSF 1.0 §8.1.1.3): the members sent
// change, the others stay.
func (h *Handler) UpdateStream(c echo.Context) error {
	var r streamRequest
	client, id, err := h.receiverRequest(c, &r, &r.StreamID)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	cur, err := h.store.StreamByID(ctx, client.ID, id)
	if err != nil {
		return modelError(err)
	}
	if err := checkAudience(client, r.Aud); err != nil {
		return err
	}
	u := models.StreamUpdate{EventsRequested: r.EventsRequested, Description: r.Description}
	if r.Delivery != nil {
		var m models.DeliveryMethod
		var url, authz string
		authzSet, err := h.delivery(*r.Delivery, cur, &m, &url, &authz)
		if err != nil {
			return err
		}
		u.Method, u.EndpointURL = &m, &url
		if authzSet {
			u.AuthorizationHeader = &authz
		}
	}
	s, err := h.store.UpdateStream(ctx, client.ID, id, u)
	if err != nil {
		return modelError(err)
	}
	return writeJSON(c, http.StatusOK, h.streamConfigOf(s))
}

// ReplaceStream is PUT /ssf/stream (SSF 1.0 §8.1.1.4): every
// receiver-supplied member is replaced; one left out is cleared (a push
// stream's authorization_header included).
func (h *Handler) ReplaceStream(c echo.Context) error {
	var r streamRequest
	client, id, err := h.receiverRequest(c, &r, &r.StreamID)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	cur, err := h.store.StreamByID(ctx, client.ID, id)
	if err != nil {
		return modelError(err)
	}
	cfg, err := h.config(client, r, cur)
	if err != nil {
		return err
	}
	s, err := h.store.ReplaceStream(ctx, client.ID, id, cfg)
	if err != nil {
		return modelError(err)
	}
	return writeJSON(c, http.StatusOK, h.streamConfigOf(s))
}

// DeleteStream is DELETE /ssf/stream?stream_id= (SSF 1.0 §8.1.1.5): the
// stream and its undelivered events go; 204.
func (h *Handler) DeleteStream(c echo.Context) error {
	client, err := h.authenticateReceiver(c)
	if err != nil {
		return err
	}
	id := c.QueryParam("stream_id")
	if id == "" {
		return ErrInvalidRequest.WithDescription("stream_id is required")
	}
	if err := h.store.DeleteStream(c.Request().Context(), client.ID, id); err != nil {
		return modelError(err)
	}
	noStore(c)
	return c.NoContent(http.StatusNoContent)
}
