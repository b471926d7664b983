package models

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// StreamStatus is an SSF 1.0 §8.1.2 stream status.
type StreamStatus string

// The stream statuses. A paused stream holds its events until enabled; a
// disabled one drops them and gets no new ones.
const (
	StreamEnabled  StreamStatus = "enabled"
	StreamPaused   StreamStatus = "paused"
	StreamDisabled StreamStatus = "disabled"
)

// DeliveryMethod is how a stream's events reach its receiver.
type DeliveryMethod string

// The delivery methods: push (RFC 8935, urn:ietf:rfc:8935) and poll
// (RFC 8936, urn:ietf:rfc:8936).
const (
	DeliveryPush DeliveryMethod = "push"
	DeliveryPoll DeliveryMethod = "poll"
)

// Who set a stream's status (Stream.StatusBy).
const (
	StatusByReceiver = "receiver"
	StatusByStaff    = "staff"
)

// MaxStreamsPerClient is how many streams one receiver may own: a
// resource server needs one or two.
const MaxStreamsPerClient = 10

// MinVerificationInterval is the least time between two verification
// requests on one stream (SSF 1.0 §8.1.1 min_verification_interval): each
// makes the server sign and, for a push stream, send a SET.
const MinVerificationInterval = 10 * time.Second

// AnyOwner, as a stream operation's owner, lets staff and the delivery
// worker reach every stream. A receiver passes its client's row id and
// reaches only its own.
const AnyOwner int64 = -1

// Stream is a receiver's event stream (SSF 1.0 §8.1.1).
type Stream struct {
	ID           int64  // row id
	StreamID     string // the public stream_id
	ClientID     int64  // the owning receiver's client row id
	Status       StreamStatus
	StatusReason string
	StatusBy     string // StatusByReceiver or StatusByStaff
	Method       DeliveryMethod
	EndpointURL  string // push: the receiver's URL
	// AuthorizationHeader is sent as is with every push (RFC 8935 §2). It is
	// the receiver's secret: stored as given because it must be sent back,
	// never logged (see LogValue) and never shown on the dashboard.
	AuthorizationHeader string
	Aud                 string // the SETs' aud: always the owner's client_id
	EventsRequested     []string
	Description         string
	CreatedAt           time.Time
	UpdatedAt           time.Time
	LastDeliveryAt      *time.Time
	LastError           string
	LastErrorAt         *time.Time
	LastVerificationAt  *time.Time
}

// LogValue keeps the receiver's Authorization header out of logs.
func (st Stream) LogValue() slog.Value {
	return slog.GroupValue(slog.String("stream_id", st.StreamID), slog.String("status", string(st.Status)),
		slog.String("method", string(st.Method)), slog.String("endpoint_url", st.ShownEndpoint()))
}

// ShownEndpoint is the push endpoint as it may be echoed, shown or logged
// (RedactEndpoint).
func (st Stream) ShownEndpoint() string { return RedactEndpoint(st.EndpointURL) }

// RedactEndpoint is a push endpoint URL without user information. A
// receiver's user:password in endpoint_url becomes the stream's
// Authorization header (SplitEndpointCredentials), and migration 30 moved
// the ones stored before; this is the last guard of the pages, the API and
// the logs against one that got in some other way.
func RedactEndpoint(endpoint string) string {
	stripped, _, _ := SplitEndpointCredentials(endpoint)
	return stripped
}

// SplitEndpointCredentials splits user information off a push endpoint
// URL: the URL without it, and the Basic Authorization header it stands
// for (RFC 7617, as a push sends it). ok is false when the URL has none
// (or does not parse). A receiver's credential then lives where
// authorization_header does, never shown, and the URL it is echoed,
// listed and logged under has none.
func SplitEndpointCredentials(endpoint string) (stripped, authorization string, ok bool) {
	u, err := url.Parse(endpoint)
	if err != nil || u.User == nil {
		return endpoint, "", false
	}
	password, _ := u.User.Password()
	authorization = "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+password))
	u.User = nil
	return u.String(), authorization, true
}

// moveEndpointCredentials is migration 30: every stored push endpoint with
// user information gets it moved into its Authorization header, as new
// ones are (SplitEndpointCredentials). Where the stream already had an
// Authorization header, pushes sent that one and ignored the URL's, so
// the URL's is only dropped.
func (s *Store) moveEndpointCredentials(tx *gorm.DB) error {
	type row struct {
		ID                  int64
		EndpointURL         string
		AuthorizationHeader string
	}
	var rows []row
	if err := tx.Raw("SELECT id, endpoint_url, authorization_header FROM streams WHERE endpoint_url LIKE '%@%'").Scan(&rows).Error; err != nil {
		return err
	}
	for _, r := range rows {
		stripped, auth, ok := SplitEndpointCredentials(r.EndpointURL)
		if !ok {
			continue
		}
		if r.AuthorizationHeader != "" {
			auth = r.AuthorizationHeader
		}
		if err := tx.Exec("UPDATE streams SET endpoint_url = ?, authorization_header = ? WHERE id = ?", stripped, auth, r.ID).Error; err != nil {
			return err
		}
	}
	return nil
}

// StreamConfig is what a receiver sets on a stream: all of it on create
// (POST) and replace (PUT).
type StreamConfig struct {
	Method              DeliveryMethod
	EndpointURL         string // push only
	AuthorizationHeader string // push only; optional
	EventsRequested     []string
	Description         string
}

// StreamUpdate is an update (PATCH): nil fields stay as they are.
type StreamUpdate struct {
	Method              *DeliveryMethod
	EndpointURL         *string
	AuthorizationHeader *string
	EventsRequested     *[]string
	Description         *string
}

// Validate checks a stream's configuration and says what to fix.
func (c *StreamConfig) Validate() error {
	switch c.Method {
	case DeliveryPush:
		u, err := url.Parse(c.EndpointURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" || len(c.EndpointURL) > 2000 {
			return invalid("endpoint_url", "A push stream needs an absolute http or https endpoint_url.")
		}
	case DeliveryPoll:
		if c.EndpointURL != "" || c.AuthorizationHeader != "" {
			return invalid("endpoint_url", "A poll stream takes no endpoint_url or authorization_header: the transmitter gives the poll URL.")
		}
	default:
		return invalid("method", "Delivery method must be push (urn:ietf:rfc:8935) or poll (urn:ietf:rfc:8936).")
	}
	if len(c.AuthorizationHeader) > 4096 || strings.ContainsAny(c.AuthorizationHeader, "\r\n\x00") {
		return invalid("authorization_header", "authorization_header must be one line of at most 4096 bytes.")
	}
	if len(c.EventsRequested) > 50 {
		return invalid("events_requested", "At most 50 event types may be requested.")
	}
	for _, e := range c.EventsRequested {
		if e == "" || len(e) > 500 || strings.ContainsAny(e, " \t\r\n%") {
			return invalid("events_requested", "Each requested event type must be a URI.")
		}
	}
	if len(c.Description) > 1000 {
		return invalid("description", "description must be at most 1000 characters.")
	}
	return nil
}

const streamColumns = `s.id, s.stream_id, s.client_id, s.status, s.status_reason, s.status_by, s.delivery_method, s.endpoint_url,
 s.authorization_header, s.aud, s.events_requested, s.description, s.created_at, s.updated_at, s.last_delivery_at,
 s.last_error, s.last_error_at, s.last_verification_at`

type scanner interface{ Scan(dest ...any) error }

func scanStream(r scanner, st *Stream, extra ...any) error {
	var events string
	err := r.Scan(append([]any{&st.ID, &st.StreamID, &st.ClientID, &st.Status, &st.StatusReason, &st.StatusBy, &st.Method, &st.EndpointURL,
		&st.AuthorizationHeader, &st.Aud, &events, &st.Description, &st.CreatedAt, &st.UpdatedAt, &st.LastDeliveryAt,
		&st.LastError, &st.LastErrorAt, &st.LastVerificationAt}, extra...)...)
	if err != nil {
		return err
	}
	st.EventsRequested = strings.Fields(events)
	st.CreatedAt, st.UpdatedAt = st.CreatedAt.UTC(), st.UpdatedAt.UTC()
	return nil
}

// newStreamID returns a public stream id: 128 random bits, 32 hex digits.
func newStreamID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// CreateStream creates an enabled stream owned by the receiver client
// owner, which must be enabled and allowed to manage streams (--ssf), and
// own fewer than MaxStreamsPerClient streams (ErrTooManyStreams).
func (s *Store) CreateStream(ctx context.Context, owner int64, c StreamConfig) (*Stream, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var out *Stream
	err := s.write(ctx, func(tx *gorm.DB) error {
		out = nil
		var cl Client
		q := tx.Select("id", "client_id", "ssf", "disabled_at").Where("id = ?", owner)
		if s.dialect == DialectPostgres {
			// Concurrent creates of one owner count its streams in turn.
			q = q.Clauses(clause.Locking{Strength: "UPDATE"})
		}
		res := q.Limit(1).Find(&cl)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 || !cl.SSF || cl.DisabledAt != nil {
			return invalid("client", "Only an enabled client created with --ssf may own event streams.")
		}
		var n int64
		if err := tx.Raw("SELECT COUNT(*) FROM streams WHERE client_id = ?", owner).Scan(&n).Error; err != nil {
			return err
		}
		if n >= MaxStreamsPerClient {
			return fmt.Errorf("%w: a receiver may own at most %d streams; delete one first", ErrTooManyStreams, MaxStreamsPerClient)
		}
		now := s.Now()
		st := &Stream{StreamID: newStreamID(), ClientID: owner, Status: StreamEnabled, Method: c.Method,
			EndpointURL: c.EndpointURL, AuthorizationHeader: c.AuthorizationHeader, Aud: cl.ClientID,
			EventsRequested: c.EventsRequested, Description: c.Description, CreatedAt: now, UpdatedAt: now}
		if err := tx.Exec("INSERT INTO streams (stream_id, client_id, status, status_reason, delivery_method, endpoint_url, "+
			"authorization_header, aud, events_requested, description, created_at, updated_at) VALUES (?, ?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?)",
			st.StreamID, owner, string(st.Status), string(st.Method), st.EndpointURL, st.AuthorizationHeader, st.Aud,
			strings.Join(st.EventsRequested, " "), st.Description, now, now).Error; err != nil {
			return err
		}
		if err := tx.Raw("SELECT id FROM streams WHERE stream_id = ?", st.StreamID).Scan(&st.ID).Error; err != nil {
			return err
		}
		out = st
		return nil
	})
	if err != nil {
		return nil, wrapWrite("create stream", err)
	}
	return out, nil
}

// StreamByID returns one of owner's streams (AnyOwner: any stream). A
// stream of another owner is ErrNotFound, like one that does not exist.
func (s *Store) StreamByID(ctx context.Context, owner int64, streamID string) (*Stream, error) {
	st, err := s.ownedStream(ctx, s.rdb, owner, streamID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, unavailable("stream", err)
	}
	return st, err
}

// StreamsByOwner lists owner's streams, oldest first.
func (s *Store) StreamsByOwner(ctx context.Context, owner int64) ([]Stream, error) {
	rows, err := s.rdb.QueryContext(ctx, s.rebind("SELECT "+streamColumns+" FROM streams s WHERE s.client_id = ? ORDER BY s.id"), owner)
	if err != nil {
		return nil, unavailable("streams by owner", err)
	}
	defer rows.Close()
	var out []Stream
	for rows.Next() {
		var st Stream
		if err := scanStream(rows, &st); err != nil {
			return nil, unavailable("streams by owner", err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("streams by owner", err)
	}
	return out, nil
}

// queryRower is what ownedStream reads with: the reader pool or a
// transaction's connection.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) ownedStream(ctx context.Context, db queryRower, owner int64, streamID string) (*Stream, error) {
	q := "SELECT " + streamColumns + " FROM streams s WHERE s.stream_id = ?"
	args := []any{streamID}
	if owner != AnyOwner {
		q += " AND s.client_id = ?"
		args = append(args, owner)
	}
	var st Stream
	err := scanStream(db.QueryRowContext(ctx, s.rebind(q), args...), &st)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errStreamNotFound(streamID)
	}
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// ownedStreamTx is ownedStream inside a write.
func (s *Store) ownedStreamTx(tx *gorm.DB, owner int64, streamID string) (*Stream, error) {
	return s.ownedStream(context.Background(), connOf(tx), owner, streamID)
}

// streamKey is the little the delivery calls need of a stream.
type streamKey struct {
	id     int64
	status StreamStatus
}

// streamRef looks a stream up by its public id, in db (the reader or a
// write's tx).
func (s *Store) streamRef(ctx context.Context, db *gorm.DB, streamID string) (streamKey, error) {
	var k struct {
		ID     int64
		Status StreamStatus
	}
	res := db.WithContext(ctx).Raw("SELECT id, status FROM streams WHERE stream_id = ?", streamID).Scan(&k)
	if res.Error != nil {
		return streamKey{}, unavailable("stream", res.Error)
	}
	if res.RowsAffected == 0 {
		return streamKey{}, errStreamNotFound(streamID)
	}
	return streamKey{k.ID, k.Status}, nil
}

// UpdateStream changes the fields of u that are set (SSF 1.0 §8.1.1.3).
func (s *Store) UpdateStream(ctx context.Context, owner int64, streamID string, u StreamUpdate) (*Stream, error) {
	return s.changeStream(ctx, owner, streamID, func(c *StreamConfig) {
		if u.Method != nil {
			c.Method = *u.Method
			if c.Method == DeliveryPoll {
				c.EndpointURL, c.AuthorizationHeader = "", ""
			}
		}
		if u.EndpointURL != nil {
			c.EndpointURL = *u.EndpointURL
		}
		if u.AuthorizationHeader != nil {
			c.AuthorizationHeader = *u.AuthorizationHeader
		}
		if u.EventsRequested != nil {
			c.EventsRequested = *u.EventsRequested
		}
		if u.Description != nil {
			c.Description = *u.Description
		}
	})
}

// ReplaceStream replaces everything a receiver sets on a stream (SSF 1.0
// §8.1.1.4).
func (s *Store) ReplaceStream(ctx context.Context, owner int64, streamID string, c StreamConfig) (*Stream, error) {
	return s.changeStream(ctx, owner, streamID, func(cur *StreamConfig) { *cur = c })
}

func (s *Store) changeStream(ctx context.Context, owner int64, streamID string, change func(*StreamConfig)) (*Stream, error) {
	var out *Stream
	err := s.write(ctx, func(tx *gorm.DB) error {
		out = nil
		st, err := s.ownedStreamTx(tx, owner, streamID)
		if err != nil {
			return err
		}
		c := StreamConfig{Method: st.Method, EndpointURL: st.EndpointURL, AuthorizationHeader: st.AuthorizationHeader,
			EventsRequested: st.EventsRequested, Description: st.Description}
		change(&c)
		if err := c.Validate(); err != nil {
			return err
		}
		now := s.Now()
		if err := tx.Exec("UPDATE streams SET delivery_method = ?, endpoint_url = ?, authorization_header = ?, "+
			"events_requested = ?, description = ?, updated_at = ? WHERE id = ?",
			string(c.Method), c.EndpointURL, c.AuthorizationHeader, strings.Join(c.EventsRequested, " "), c.Description,
			now, st.ID).Error; err != nil {
			return err
		}
		st.Method, st.EndpointURL, st.AuthorizationHeader = c.Method, c.EndpointURL, c.AuthorizationHeader
		st.EventsRequested, st.Description, st.UpdatedAt = c.EventsRequested, c.Description, now
		out = st
		return nil
	})
	if err != nil {
		return nil, wrapWrite("update stream", err)
	}
	return out, nil
}

// DeleteStream deletes one of owner's streams and drops its pending events.
func (s *Store) DeleteStream(ctx context.Context, owner int64, streamID string) error {
	err := s.write(ctx, func(tx *gorm.DB) error {
		_, err := s.deleteStreamTx(tx, owner, streamID)
		return err
	})
	return wrapWrite("delete stream", err)
}

func (s *Store) deleteStreamTx(tx *gorm.DB, owner int64, streamID string) (*Stream, error) {
	st, err := s.ownedStreamTx(tx, owner, streamID)
	if err != nil {
		return nil, err
	}
	if err := tx.Exec("DELETE FROM stream_events WHERE stream_id = ?", st.ID).Error; err != nil {
		return nil, err
	}
	return st, tx.Exec("DELETE FROM streams WHERE id = ?", st.ID).Error
}

// SetStreamStatus sets a stream's status (SSF 1.0 §8.1.2.2) with a
// reason, for its receiver. Disabling drops the events it has not
// delivered; pausing keeps them for when it is enabled again. A stream
// staff paused or disabled stays so: ErrStreamHeld.
func (s *Store) SetStreamStatus(ctx context.Context, owner int64, streamID string, status StreamStatus, reason string) (*Stream, error) {
	var out *Stream
	err := s.write(ctx, func(tx *gorm.DB) error {
		var err error
		out, err = s.setStreamStatusTx(tx, owner, streamID, status, reason, StatusByReceiver)
		return err
	})
	if err != nil {
		return nil, wrapWrite("set stream status", err)
	}
	return out, nil
}

func (s *Store) setStreamStatusTx(tx *gorm.DB, owner int64, streamID string, status StreamStatus, reason, by string) (*Stream, error) {
	switch status {
	case StreamEnabled, StreamPaused, StreamDisabled:
	default:
		return nil, invalid("status", "Status must be enabled, paused or disabled.")
	}
	st, err := s.ownedStreamTx(tx, owner, streamID)
	if err != nil {
		return nil, err
	}
	if by == StatusByReceiver && st.StatusBy == StatusByStaff && st.Status != StreamEnabled {
		return nil, fmt.Errorf("%w: stream %s is %s by staff", ErrStreamHeld, st.StreamID, st.Status)
	}
	if status != StreamDisabled {
		// A disabled client is no longer trusted with who was revoked:
		// its streams stay disabled (disableClientStreamsTx). A paused
		// stream would gather events for it. On PostgreSQL the client's
		// row is locked until this commits, so that a replica disabling
		// the client meanwhile waits, and then disables this stream too.
		q := "SELECT COUNT(*) FROM clients WHERE id = ? AND disabled_at IS NOT NULL"
		if s.dialect == DialectPostgres {
			q = "SELECT COUNT(*) FROM (SELECT disabled_at FROM clients WHERE id = ? FOR SHARE) c WHERE c.disabled_at IS NOT NULL"
		}
		var disabled int64
		if err := tx.Raw(q, st.ClientID).Scan(&disabled).Error; err != nil {
			return nil, err
		}
		if disabled > 0 {
			return nil, invalid("status", "The stream's client is disabled, and a disabled client's streams stay disabled.")
		}
	}
	now := s.Now()
	reason = truncate(strings.TrimSpace(reason), 500)
	if err := tx.Exec("UPDATE streams SET status = ?, status_reason = ?, status_by = ?, updated_at = ? WHERE id = ?",
		string(status), reason, by, now, st.ID).Error; err != nil {
		return nil, err
	}
	if status == StreamDisabled {
		if err := tx.Exec("DELETE FROM stream_events WHERE stream_id = ?", st.ID).Error; err != nil {
			return nil, err
		}
	}
	if status == StreamEnabled && st.Status != StreamEnabled {
		noteQueued(tx) // held events may go out now
	}
	st.Status, st.StatusReason, st.StatusBy, st.UpdatedAt = status, reason, by, now
	return st, nil
}

// disableClientStreamsTx disables every stream of a client being disabled
// and drops their undelivered events, as staff: re-enabling the client
// does not bring them back, staff enable them on the dashboard.
func (s *Store) disableClientStreamsTx(tx *gorm.DB, clientID int64) error {
	if err := tx.Exec("UPDATE streams SET status = ?, status_reason = ?, status_by = ?, updated_at = ? WHERE client_id = ? AND status <> ?",
		string(StreamDisabled), "client disabled", StatusByStaff, s.Now(), clientID, string(StreamDisabled)).Error; err != nil {
		return err
	}
	return tx.Exec("DELETE FROM stream_events WHERE stream_id IN (SELECT id FROM streams WHERE client_id = ?)", clientID).Error
}

// The audited staff actions on streams.
const (
	ActionStreamStatus Action = "stream.status"
	ActionStreamDelete Action = "stream.delete"
)

// SetStreamStatusAs is SetStreamStatus for a staff member on the
// dashboard, with a stream.status audit event naming the stream, its
// receiver and the new status, in the same transaction.
func (s *Store) SetStreamStatusAs(ctx context.Context, streamID string, status StreamStatus, a StaffAction) (*Stream, error) {
	var out *Stream
	err := s.write(ctx, func(tx *gorm.DB) error {
		var err error
		out, err = s.setStreamStatusTx(tx, AnyOwner, streamID, status, a.Reason, StatusByStaff)
		if err != nil {
			return err
		}
		ev := a.event(ActionStreamStatus, s.Now())
		ev.ClientID = &out.ClientID
		ev.Reason = truncate(fmt.Sprintf("stream %s %s", out.StreamID, status)+reasonSuffix(a.Reason), 500)
		return s.insertAudit(tx, &ev)
	})
	if err != nil {
		return nil, wrapWrite("set stream status", err)
	}
	return out, nil
}

// DeleteStreamAs is DeleteStream for a staff member on the dashboard, with
// a stream.delete audit event, in the same transaction.
func (s *Store) DeleteStreamAs(ctx context.Context, streamID string, a StaffAction) error {
	err := s.write(ctx, func(tx *gorm.DB) error {
		st, err := s.deleteStreamTx(tx, AnyOwner, streamID)
		if err != nil {
			return err
		}
		ev := a.event(ActionStreamDelete, s.Now())
		ev.ClientID = &st.ClientID
		ev.Reason = truncate("stream "+st.StreamID+reasonSuffix(a.Reason), 500)
		return s.insertAudit(tx, &ev)
	})
	return wrapWrite("delete stream", err)
}

// StreamRow is a stream as the dashboard lists it: its receiver, method,
// status, backlog, last delivery and last error. It has no Authorization
// header.
type StreamRow struct {
	ID             int64
	StreamID       string
	ClientID       int64
	ClientName     string
	ClientPublicID string
	ClientDisabled bool // its streams stay disabled (setStreamStatusTx)
	Status         StreamStatus
	StatusReason   string
	Method         DeliveryMethod
	EndpointURL    string
	Description    string
	CreatedAt      time.Time
	Backlog        int // events not yet delivered (or, on a poll stream, acknowledged)
	LastDeliveryAt *time.Time
	LastError      string
	LastErrorAt    *time.Time
}

// qStreamsOverview lists every stream with its backlog in one query; each
// backlog is a count of the stream's range of stream_events' key (every
// row there is pending).
const qStreamsOverview = `SELECT s.id, s.stream_id, s.client_id, c.name, c.client_id, c.disabled_at IS NOT NULL, s.status, s.status_reason, s.delivery_method,
 s.endpoint_url, s.description, s.created_at, s.last_delivery_at, s.last_error, s.last_error_at,
 (SELECT COUNT(*) FROM stream_events se WHERE se.stream_id = s.id) AS backlog
FROM streams s JOIN clients c ON c.id = s.client_id ORDER BY s.id DESC`

// StreamsOverview lists every stream, newest first, for the dashboard.
// Streams are few (one or two per resource server), so there is no paging.
func (s *Store) StreamsOverview(ctx context.Context) ([]StreamRow, error) {
	rows, err := s.rdb.QueryContext(ctx, qStreamsOverview)
	if err != nil {
		return nil, unavailable("streams overview", err)
	}
	defer rows.Close()
	var out []StreamRow
	for rows.Next() {
		var r StreamRow
		if err := rows.Scan(&r.ID, &r.StreamID, &r.ClientID, &r.ClientName, &r.ClientPublicID, &r.ClientDisabled, &r.Status, &r.StatusReason, &r.Method,
			&r.EndpointURL, &r.Description, &r.CreatedAt, &r.LastDeliveryAt, &r.LastError, &r.LastErrorAt, &r.Backlog); err != nil {
			return nil, unavailable("streams overview", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("streams overview", err)
	}
	return out, nil
}
