package events

import (
	"fmt"
	"strings"
	"sync"

	"github.com/latchkey/latchkey/models"
)

// Transmitter turns stored events into signed SETs for one issuer. The
// push worker and the poll endpoint share it.
type Transmitter struct {
	st     *models.Store
	issuer string
	keys   *Keys
	stats  *Stats

	// AllowPrivatePush lets push streams use http and reach loopback,
	// private and link-local addresses (serve --push-allow-private): for
	// development and tests only. Set it before the transmitter is used.
	AllowPrivatePush bool

	stop     chan struct{} // closed by StopPolls
	stopOnce sync.Once
}

// NewTransmitter returns the transmitter for issuer (the RFC 8414 issuer,
// no trailing slash) over st.
func NewTransmitter(st *models.Store, issuer string) *Transmitter {
	return &Transmitter{st: st, issuer: strings.TrimRight(issuer, "/"), keys: NewKeys(st), stats: newStats(), stop: make(chan struct{})}
}

// Issuer is the iss of every SET.
func (t *Transmitter) Issuer() string { return t.issuer }

// Keys is the signing key ring.
func (t *Transmitter) Keys() *Keys { return t.keys }

// Stats are the delivery counters, for metrics.
func (t *Transmitter) Stats() *Stats { return t.stats }

// Store is the store the transmitter reads.
func (t *Transmitter) Store() *models.Store { return t.st }

// CheckPushEndpoint says whether a receiver may register endpoint for push
// delivery (see CheckEndpoint).
func (t *Transmitter) CheckPushEndpoint(endpoint string) error {
	return CheckEndpoint(endpoint, t.AllowPrivatePush)
}

// Configuration is the SSF configuration document.
func (t *Transmitter) Configuration() Configuration { return NewConfiguration(t.issuer) }

// SETID is the jti of an event's SET on a stream: the event's own jti and
// the stream id, so that it is unique per SET (RFC 8417 §2.2) and the same
// on every retry.
func SETID(eventJTI, streamID string) string { return eventJTI + "." + streamID }

// EventJTI is the event's own jti in a SET's jti from SETID, or "" when
// jti was not made for streamID.
func EventJTI(setJTI, streamID string) string {
	j, ok := strings.CutSuffix(setJTI, "."+streamID)
	if !ok || j == "" {
		return ""
	}
	return j
}

// Claims builds the SET of e for stream.
func (t *Transmitter) Claims(stream *models.Stream, e *models.Event) (Claims, error) {
	jti := SETID(e.JTI, stream.StreamID)
	switch e.Type {
	case models.EventVerification:
		return VerificationClaims(t.issuer, stream.Aud, jti, stream.StreamID, e.State, e.CreatedAt), nil
	case models.EventSessionRevoked:
		return SessionRevokedClaims(t.issuer, stream.Aud, jti, e.CreatedAt, Revocation{
			Session: e.SID, User: e.Username, Client: e.ClientPublicID, At: e.EventTime,
			Initiator: e.Initiating, Reason: e.ReasonAdmin, UserNote: e.ReasonUser,
		}), nil
	}
	return Claims{}, fmt.Errorf("events: unknown event type %q", e.Type)
}

// Sign builds and signs the SET of e for stream with s.
func (t *Transmitter) sign(s *Signer, stream *models.Stream, e *models.Event) (string, error) {
	c, err := t.Claims(stream, e)
	if err != nil {
		return "", err
	}
	return s.Sign(c)
}
