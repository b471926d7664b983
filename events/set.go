package events

import (
	"encoding/json"
	"time"

	"github.com/latchkey/latchkey/models"
)

// Event types and delivery methods this transmitter speaks.
const (
	// SessionRevoked is CAEP 1.0 §3.1's event type (the outbox's, models).
	SessionRevoked = models.EventSessionRevoked
	// Verification is SSF 1.0 §8.1.4.1's event type.
	Verification = models.EventVerification

	// DeliveryPush is RFC 8935 push delivery.
	DeliveryPush = "urn:ietf:rfc:8935"
	// DeliveryPoll is RFC 8936 poll delivery.
	DeliveryPoll = "urn:ietf:rfc:8936"

	// MediaType is RFC 8417 §2.3's content type of a SET.
	MediaType = "application/secevent+jwt"
	// JOSEType is the "typ" header of every SET (RFC 8417 §2.3).
	JOSEType = "secevent+jwt"
)

// EventsSupported are the event types a stream may request.
var EventsSupported = []string{SessionRevoked, Verification}

// InitiatingEntity is CAEP 1.0 §2's initiating_entity: who caused the
// event, as the revocation core recorded it.
type InitiatingEntity = models.InitiatingEntity

// The initiating entities.
const (
	EntityAdmin  = models.InitiatedByAdmin
	EntityUser   = models.InitiatedByUser
	EntityPolicy = models.InitiatedByPolicy
	EntitySystem = models.InitiatedBySystem
)

// Identifier is one RFC 9493 subject identifier: opaque {id} or iss_sub
// {iss, sub}.
type Identifier struct {
	Format string `json:"format"`
	ID     string `json:"id,omitempty"`
	Iss    string `json:"iss,omitempty"`
	Sub    string `json:"sub,omitempty"`
}

// SubjectID is a SET's sub_id (SSF 1.0 §3.2, RFC 9493 §3.2.2): a complex
// subject naming the session, the user and the client, each when known;
// or, for a verification event, the stream as an opaque id.
type SubjectID struct {
	Format      string      `json:"format"`
	ID          string      `json:"id,omitempty"`
	Session     *Identifier `json:"session,omitempty"`
	User        *Identifier `json:"user,omitempty"`
	Application *Identifier `json:"application,omitempty"`
}

// Claims is a SET's payload (RFC 8417 §2.2). Events holds exactly one
// event (SSF 1.0 §4.1.8).
type Claims struct {
	Iss    string                     `json:"iss"`
	Aud    string                     `json:"aud"`
	Iat    int64                      `json:"iat"`
	Jti    string                     `json:"jti"`
	SubID  *SubjectID                 `json:"sub_id"`
	Txn    string                     `json:"txn,omitempty"`
	Events map[string]json.RawMessage `json:"events"`
}

// Revocation is what a session-revoked event says: one revoked grant
// (Session set), all of a user's grants (User set, Client when scoped to
// one client), or all of a client's (only Client set).
type Revocation struct {
	Session   string // grant public id, the sid of introspection
	User      string // the user's sub as introspection reports it
	Client    string // client_id
	At        time.Time
	Initiator InitiatingEntity
	Reason    string // audit reason, for reason_admin
	UserNote  string // reason_user, only when the user revoked it
}

// sessionRevoked is CAEP 1.0 §3.1's event body.
type sessionRevoked struct {
	EventTimestamp   int64             `json:"event_timestamp"`
	InitiatingEntity InitiatingEntity  `json:"initiating_entity,omitempty"`
	ReasonAdmin      map[string]string `json:"reason_admin,omitempty"`
	ReasonUser       map[string]string `json:"reason_user,omitempty"`
}

// Subject is the complex sub_id of r: "session" (opaque sid), "user"
// (iss_sub with issuer as iss) and "application" (opaque client_id), each
// present when r names it.
func (r Revocation) Subject(issuer string) *SubjectID {
	s := &SubjectID{Format: "complex"}
	if r.Session != "" {
		s.Session = &Identifier{Format: "opaque", ID: r.Session}
	}
	if r.User != "" {
		s.User = &Identifier{Format: "iss_sub", Iss: issuer, Sub: r.User}
	}
	if r.Client != "" {
		s.Application = &Identifier{Format: "opaque", ID: r.Client}
	}
	return s
}

// SessionRevokedClaims builds the SET for r, to aud, with the given jti
// and iat (the time the event was written).
func SessionRevokedClaims(issuer, aud, jti string, iat time.Time, r Revocation) Claims {
	body := sessionRevoked{EventTimestamp: r.At.Unix(), InitiatingEntity: r.Initiator}
	if r.Reason != "" {
		body.ReasonAdmin = map[string]string{"en": r.Reason}
	}
	if r.UserNote != "" {
		body.ReasonUser = map[string]string{"en": r.UserNote}
	}
	raw := json.RawMessage(body.appendJSON(make([]byte, 0, 128)))
	return Claims{Iss: issuer, Aud: aud, Iat: iat.Unix(), Jti: jti, SubID: r.Subject(issuer),
		Events: map[string]json.RawMessage{SessionRevoked: raw}}
}

// VerificationClaims builds SSF 1.0 §8.1.4's verification SET for the
// stream, echoing the receiver's state. Its subject is the stream itself.
func VerificationClaims(issuer, aud, jti, streamID, state string, iat time.Time) Claims {
	body := map[string]string{}
	if state != "" {
		body["state"] = state
	}
	raw := json.RawMessage(appendStringMap(nil, body))
	return Claims{Iss: issuer, Aud: aud, Iat: iat.Unix(), Jti: jti,
		SubID:  &SubjectID{Format: "opaque", ID: streamID},
		Events: map[string]json.RawMessage{Verification: raw}}
}
