package models

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"gorm.io/gorm"
)

// The event types Latchkey transmits: CAEP 1.0 §3.1 session-revoked for
// every revocation, and SSF 1.0 §8.1.4 verification on a receiver's demand.
const (
	EventSessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	EventVerification   = "https://schemas.openid.net/secevent/ssf/event-type/verification"
)

// InitiatingEntity is CAEP 1.0 §2's initiating_entity: who or what caused
// a revocation.
type InitiatingEntity string

// The initiating entities.
const (
	InitiatedByAdmin  InitiatingEntity = "admin"  // staff on the dashboard or the command line
	InitiatedByUser   InitiatingEntity = "user"   // the end user (self-service, an app's logout)
	InitiatedByPolicy InitiatingEntity = "policy" // reuse detection; disabling a user or client
	InitiatedBySystem InitiatingEntity = "system" // a client revoking a token of no user
)

// Event is one row of the outbox: an event to transmit to every stream
// that was enabled or paused when it was written. The subject fields are
// copied in when the event is written, so that a Security Event Token can
// still be built after the grant, or the user's tokens, are purged.
type Event struct {
	ID int64
	// JTI is random and unique; a SET's jti is built from it and the
	// stream's id, so a retry carries the same jti.
	JTI  string
	Type string // EventSessionRevoked or EventVerification
	// SID is the revoked grant's public id (introspection's sid); empty
	// for an event about a whole user or client.
	SID            string
	UserID         *int64
	Username       string // the user's name: introspection's sub
	ClientID       *int64 // the client's row id
	ClientPublicID string // the client's client_id
	Initiating     InitiatingEntity
	ReasonAdmin    string // CAEP reason_admin: the audit reason
	ReasonUser     string // CAEP reason_user: set for self-service only
	State          string // a verification event's state (SSF 1.0 §8.1.4.1)
	EventTime      time.Time
	CreatedAt      time.Time
}

// eventColumns are the outbox columns the delivery queries read, with e.
// as the events table's alias.
const eventColumns = `e.id, e.jti, e.type, e.sid, e.user_id, e.username, e.client_id, e.client_public_id,
 e.initiating_entity, e.reason_admin, e.reason_user, e.state, e.event_time, e.created_at`

// queueSessionRevokedSQL gives the session-revoked events named by n jtis
// to every stream that is not disabled and asked for them (no
// events_requested means all). The event type is written into the SQL
// rather than bound: SQLite prepares a statement again on every run when a
// LIKE pattern is a bound parameter (the LIKE optimization depends on it).
func queueSessionRevokedSQL(n int) string {
	return "INSERT INTO stream_events (stream_id, event_id, attempts, next_attempt_at, created_at) " +
		"SELECT s.id, e.id, 0, e.created_at, e.created_at FROM events e CROSS JOIN streams s " +
		"WHERE e.jti IN (" + placeholders(n, 1) + ") AND s.status <> 'disabled' AND (s.events_requested = '' OR s.events_requested LIKE '%" +
		EventSessionRevoked + "%')"
}

// eventColumnsInsert are the columns an outbox row is written with.
const eventColumnsInsert = "jti, type, sid, user_id, username, client_id, client_public_id, initiating_entity, " +
	"reason_admin, reason_user, state, event_time, created_at"

// qInsertEvent writes one outbox row (a verification event).
const qInsertEvent = "INSERT INTO events (" + eventColumnsInsert + ") VALUES (" + "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?" + ")"

// placeholders returns n groups of k comma-separated ? placeholders:
// "(?, ?), (?, ?)" for k > 1, "?, ?" for k == 1.
func placeholders(n, k int) string {
	one := strings.TrimSuffix(strings.Repeat("?, ", k), ", ")
	if k > 1 {
		one = "(" + one + ")"
	}
	return strings.TrimSuffix(strings.Repeat(one+", ", n), ", ")
}

// newEventJTI returns an event's jti, 32 hex digits laid out as a UUIDv7
// (RFC 9562 §5.7): 48 bits of Unix milliseconds, then 80 random bits. It
// is unique and unguessable, and new jtis sort after older ones, so each
// revocation adds to the end of the events_jti index instead of dirtying
// a random page of it.
func newEventJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b[6:])
	ms := uint64(time.Now().UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	return hex.EncodeToString(b)
}

// queueEventTx puts ev, a session-revoked event, into the outbox of tx's
// transaction: it is written, with a delivery row for every stream that is
// enabled or paused, by flushOutbox just before the transaction commits
// (the writer does that once for all the writes of a group commit, so a
// revocation pays for a row, not for two statements). It is the only way
// into the outbox, and the revocation core its only caller.
func (s *Store) queueEventTx(tx *gorm.DB, ev *Event) error {
	ev.Type = EventSessionRevoked
	ev.JTI = newEventJTI() // afresh: the writer may run a closure twice
	ev.ReasonAdmin, ev.ReasonUser = truncate(ev.ReasonAdmin, 500), truncate(ev.ReasonUser, 500)
	if t := tallyOf(tx); t != nil {
		t.events = append(t.events, ev)
		return nil
	}
	_, err := s.flushOutbox(tx, []*Event{ev})
	return err
}

// outboxChunk bounds the rows of one multi-row INSERT (13 parameters
// each: well within both databases' limits).
const outboxChunk = 64

// flushOutbox writes the events a transaction queued: the outbox rows, in
// multi-row INSERTs, then one INSERT … SELECT that queues them on every
// stream that is enabled or paused. It runs inside the transaction, just
// before the commit, so the events commit, or roll back, with the
// revocations that made them. It returns how many deliveries it queued.
func (s *Store) flushOutbox(tx *gorm.DB, evs []*Event) (int64, error) {
	ctx := context.Background()
	conn := connOf(tx)
	// With no stream to deliver to there is nothing to keep: a stream
	// receives the events that happen after it was created. Most
	// deployments without receivers then pay one indexed read per group
	// commit instead of two writes per revocation.
	var live int
	err := conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM (SELECT 1 FROM streams WHERE status <> 'disabled' LIMIT 1) AS x").Scan(&live)
	if err != nil {
		return 0, err
	}
	if live == 0 {
		return 0, nil
	}
	var queued int64
	for chunk := range slices.Chunk(evs, outboxChunk) {
		args := make([]any, 0, 13*len(chunk))
		jtis := make([]any, 0, len(chunk))
		for _, ev := range chunk {
			args = append(args, ev.JTI, ev.Type, nullString(ev.SID), ev.UserID, ev.Username, ev.ClientID, ev.ClientPublicID,
				string(ev.Initiating), ev.ReasonAdmin, ev.ReasonUser, ev.State, ev.EventTime, ev.CreatedAt)
			jtis = append(jtis, ev.JTI)
		}
		// Statements of as many rows as the batch had: prepared here, once
		// per transaction, not cached.
		q := "INSERT INTO events (" + eventColumnsInsert + ") VALUES " + placeholders(len(chunk), 13)
		if _, err := conn.ExecContext(ctx, s.rebind(q), args...); err != nil {
			return 0, err
		}
		res, err := conn.ExecContext(ctx, s.rebind(queueSessionRevokedSQL(len(chunk))), jtis...)
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		queued += n
	}
	return queued, nil
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// PendingEvent is an event waiting for delivery on one stream, with its
// delivery state there.
type PendingEvent struct {
	// DeliveryID names this event on this stream, for MarkDelivered and
	// MarkFailed.
	DeliveryID    int64
	Attempts      int
	NextAttemptAt time.Time
	Event         Event
}

// qPendingEvents reads a stream's oldest pending deliveries through
// stream_events_pending (models/event_plan_test.go checks the plan).
const qPendingEvents = `SELECT se.id, se.attempts, se.next_attempt_at, ` + eventColumns + `
FROM stream_events se JOIN events e ON e.id = se.event_id
WHERE se.stream_id = ? AND se.delivered_at IS NULL ORDER BY se.event_id LIMIT ?`

// PendingEvents returns up to limit events not yet delivered on the
// stream, oldest first (the order they must be delivered in), whatever the
// stream's status and whenever their next attempt is due: the push worker
// takes the head and waits for its due time, so that the head blocks the
// rest. An unknown stream has none.
func (s *Store) PendingEvents(ctx context.Context, streamID string, limit int) ([]PendingEvent, error) {
	st, err := s.streamRef(ctx, s.r, streamID)
	if err != nil {
		return nil, err
	}
	return s.pendingEvents(ctx, st.id, limit)
}

func (s *Store) pendingEvents(ctx context.Context, streamRowID int64, limit int) ([]PendingEvent, error) {
	if limit <= 0 {
		limit = 1
	}
	rows, err := s.rdb.QueryContext(ctx, s.rebind(qPendingEvents), streamRowID, limit)
	if err != nil {
		return nil, unavailable("pending events", err)
	}
	defer rows.Close()
	var out []PendingEvent
	for rows.Next() {
		var p PendingEvent
		var sid sql.NullString
		e := &p.Event
		if err := rows.Scan(&p.DeliveryID, &p.Attempts, &p.NextAttemptAt, &e.ID, &e.JTI, &e.Type, &sid, &e.UserID, &e.Username,
			&e.ClientID, &e.ClientPublicID, &e.Initiating, &e.ReasonAdmin, &e.ReasonUser, &e.State, &e.EventTime, &e.CreatedAt); err != nil {
			return nil, unavailable("pending events", err)
		}
		e.SID = sid.String
		p.NextAttemptAt, e.EventTime, e.CreatedAt = p.NextAttemptAt.UTC(), e.EventTime.UTC(), e.CreatedAt.UTC()
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("pending events", err)
	}
	return out, nil
}

// StreamDue is an enabled push stream with events to deliver.
type StreamDue struct {
	StreamID string
	// HeadDueAt is when the oldest pending event's next attempt is due:
	// nothing on the stream may go out before it.
	HeadDueAt time.Time
}

// qPushStreamsDue reads each enabled push stream's head through
// stream_events_pending.
const qPushStreamsDue = `SELECT s.stream_id, (SELECT se.next_attempt_at FROM stream_events se
 WHERE se.stream_id = s.id AND se.delivered_at IS NULL ORDER BY se.event_id LIMIT 1) AS head
FROM streams s WHERE s.status = 'enabled' AND s.delivery_method = 'push'`

// PushStreamsDue lists the enabled push streams that have pending events,
// with when their head event is due, for the delivery worker. Paused
// streams hold their events; disabled streams have none.
func (s *Store) PushStreamsDue(ctx context.Context) ([]StreamDue, error) {
	rows, err := s.rdb.QueryContext(ctx, qPushStreamsDue)
	if err != nil {
		return nil, unavailable("push streams due", err)
	}
	defer rows.Close()
	var out []StreamDue
	for rows.Next() {
		var id string
		var head any
		if err := rows.Scan(&id, &head); err != nil {
			return nil, unavailable("push streams due", err)
		}
		if head == nil {
			continue
		}
		out = append(out, StreamDue{StreamID: id, HeadDueAt: timeOf(head)})
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("push streams due", err)
	}
	return out, nil
}

// MarkDelivered records that the stream's receiver accepted these
// deliveries (RFC 8935 §2: a 202), and when, as the stream's last
// delivery. A delivery already marked stays as it was.
func (s *Store) MarkDelivered(ctx context.Context, streamID string, deliveryIDs ...int64) error {
	if len(deliveryIDs) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *gorm.DB) error {
		st, err := s.streamRef(ctx, tx, streamID)
		if err != nil {
			return err
		}
		now := s.Now()
		if err := tx.Exec("UPDATE stream_events SET delivered_at = ? WHERE stream_id = ? AND id IN ? AND delivered_at IS NULL",
			now, st.id, deliveryIDs).Error; err != nil {
			return err
		}
		return tx.Exec("UPDATE streams SET last_delivery_at = ? WHERE id = ?", now, st.id).Error
	})
	return wrapWrite("mark delivered", err)
}

// MarkFailed records a failed delivery attempt: one more attempt, the
// next due at next, and errText (truncated; it must hold no secret) as the
// stream's last error.
func (s *Store) MarkFailed(ctx context.Context, streamID string, deliveryID int64, next time.Time, errText string) error {
	err := s.write(ctx, func(tx *gorm.DB) error {
		st, err := s.streamRef(ctx, tx, streamID)
		if err != nil {
			return err
		}
		now := s.Now()
		if err := tx.Exec("UPDATE stream_events SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ? AND stream_id = ? AND delivered_at IS NULL",
			next.UTC(), deliveryID, st.id).Error; err != nil {
			return err
		}
		return tx.Exec("UPDATE streams SET last_error = ?, last_error_at = ? WHERE id = ?", truncate(errText, 500), now, st.id).Error
	})
	return wrapWrite("mark failed", err)
}

// PollEvents returns up to max events the receiver of a poll stream has
// not acknowledged, oldest first, and whether more are waiting (RFC 8936
// §2.4's moreAvailable). An unacknowledged event is returned again by the
// next poll. A stream that is not enabled returns none: a paused stream
// holds its events.
func (s *Store) PollEvents(ctx context.Context, streamID string, max int) ([]PendingEvent, bool, error) {
	st, err := s.streamRef(ctx, s.r, streamID)
	if err != nil {
		return nil, false, err
	}
	if st.status != StreamEnabled {
		return nil, false, nil
	}
	if max <= 0 {
		max = 1
	}
	evs, err := s.pendingEvents(ctx, st.id, max+1)
	if err != nil {
		return nil, false, err
	}
	if len(evs) > max {
		return evs[:max], true, nil
	}
	return evs, false, nil
}

// AckEvents acknowledges events on a poll stream (RFC 8936 §2.4 ack): they
// are never returned again. jtis are the events' Event.JTI values; unknown
// ones are ignored. It reports how many it acknowledged.
func (s *Store) AckEvents(ctx context.Context, streamID string, jtis []string) (int, error) {
	if len(jtis) == 0 {
		return 0, nil
	}
	var n int64
	err := s.write(ctx, func(tx *gorm.DB) error {
		n = 0
		st, err := s.streamRef(ctx, tx, streamID)
		if err != nil {
			return err
		}
		now := s.Now()
		res := tx.Exec("UPDATE stream_events SET delivered_at = ? WHERE stream_id = ? AND delivered_at IS NULL AND event_id IN (SELECT id FROM events WHERE jti IN ?)",
			now, st.id, jtis)
		if res.Error != nil {
			return res.Error
		}
		n = res.RowsAffected
		if n > 0 {
			return tx.Exec("UPDATE streams SET last_delivery_at = ? WHERE id = ?", now, st.id).Error
		}
		return nil
	})
	if err != nil {
		return 0, wrapWrite("ack events", err)
	}
	return int(n), nil
}

// QueueVerification queues an SSF 1.0 §8.1.4 verification event, carrying
// the receiver's state, on one stream of owner's (AnyOwner for staff). It
// is delivered like any event, in order. A disabled stream refuses it; a
// receiver asking again less than MinVerificationInterval after its last
// request gets a *TooSoonError.
func (s *Store) QueueVerification(ctx context.Context, owner int64, streamID, state string) error {
	err := s.write(ctx, func(tx *gorm.DB) error {
		st, err := s.ownedStreamTx(tx, owner, streamID)
		if err != nil {
			return err
		}
		if st.Status == StreamDisabled {
			return invalid("status", "The stream is disabled.")
		}
		now := s.Now()
		if owner != AnyOwner && st.LastVerificationAt != nil { // receivers are limited, staff and tests are not
			if wait := st.LastVerificationAt.Add(MinVerificationInterval).Sub(now); wait > 0 {
				return &TooSoonError{What: "verification", RetryAfter: wait}
			}
		}
		if err := tx.Exec("UPDATE streams SET last_verification_at = ? WHERE id = ?", now, st.ID).Error; err != nil {
			return err
		}
		ev := Event{JTI: newEventJTI(), Type: EventVerification, State: truncate(state, 500), EventTime: now, CreatedAt: now}
		id, err := s.insertID(tx, qInsertEvent, ev.JTI, ev.Type, nil, nil, "", nil, "", "", "", "", ev.State, now, now)
		if err != nil {
			return err
		}
		if err := tx.Exec("INSERT INTO stream_events (stream_id, event_id, attempts, next_attempt_at, created_at) VALUES (?, ?, 0, ?, ?)",
			st.ID, id, now, now).Error; err != nil {
			return err
		}
		noteQueued(tx)
		return nil
	})
	return wrapWrite("queue verification", err)
}

// EventsQueued returns a channel that is closed as soon as a transaction
// that queued events on some stream has committed in this process. It is a
// broadcast: every caller waiting on it wakes. Call it again after each
// wake-up for the next one. Take the channel before looking for events,
// so that none queued in between is missed. Events queued by another
// replica do not close it: poll the database as well (events.Recheck).
func (s *Store) EventsQueued() <-chan struct{} { return s.queued.wait() }

// broadcast is a reusable wake-up for any number of waiters.
type broadcast struct {
	mu sync.Mutex
	ch chan struct{}
}

func (b *broadcast) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch == nil {
		b.ch = make(chan struct{})
	}
	return b.ch
}

// poke wakes every waiter; without waiters it costs a lock.
func (b *broadcast) poke() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ch != nil {
		close(b.ch)
		b.ch = nil
	}
}

// streamClaims holds, on SQLite (one process writes the database), which
// streams a delivery goroutine of this process is working on.
type streamClaims struct {
	mu   sync.Mutex
	held map[int64]bool
}

func (c *streamClaims) try(id int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held == nil {
		c.held = map[int64]bool{}
	}
	if c.held[id] {
		return false
	}
	c.held[id] = true
	return true
}

func (c *streamClaims) release(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.held, id)
}

// streamClaimKey is the first key of the PostgreSQL advisory locks that
// claim streams for delivery; the second is the stream's row id. (The
// two-key space does not overlap the one-key locks of migrations and
// purge.)
const streamClaimKey = 8935

// ClaimStream runs fn while holding the stream exclusively for delivery,
// and reports whether it could: false (and fn not run) when another
// goroutine, or on PostgreSQL another replica, holds it. That is what keeps
// a stream's events going out once and in order with several replicas. On
// PostgreSQL the claim is a transaction-scoped advisory lock
// (pg_try_advisory_xact_lock) on a transaction that stays open while fn
// runs, so each claim holds one pool connection: run at most
// MaxConcurrentClaims at once, since fn's own reads and writes
// (MarkDelivered, MarkFailed) need connections of the same pool. fn gets a
// context that ends with ctx; the claim itself does not end with ctx, only
// when fn has returned, so that a delivery recording its last pushes
// during shutdown still holds the stream and no other replica can push the
// same events meanwhile.
func (s *Store) ClaimStream(ctx context.Context, streamID string, fn func(ctx context.Context) error) (bool, error) {
	st, err := s.streamRef(ctx, s.r, streamID)
	if err != nil {
		return false, err
	}
	if s.dialect != DialectPostgres {
		if !s.claims.try(st.id) {
			return false, nil
		}
		defer s.claims.release(st.id)
		return true, fn(ctx)
	}
	// Not ctx: database/sql rolls a transaction back, releasing the lock,
	// as soon as its context ends — while fn may still be recording.
	tx, err := s.wdb.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return false, unavailable("claim stream", err)
	}
	defer tx.Rollback() //nolint:errcheck // releases the lock; nothing was written
	var ok bool
	if err := tx.QueryRowContext(ctx, "SELECT pg_try_advisory_xact_lock($1, ($2 % 2147483647)::int)", streamClaimKey, st.id).Scan(&ok); err != nil {
		return false, unavailable("claim stream", err)
	}
	if !ok {
		return false, nil
	}
	return true, fn(ctx)
}

// MaxConcurrentClaims is how many streams should be claimed (ClaimStream)
// at once: on PostgreSQL a quarter of the pool, at most 8, so that the
// claims' connections never starve the deliveries' reads and writes, nor
// the server's requests; on SQLite (claims hold no connection) 8.
func (s *Store) MaxConcurrentClaims() int {
	if s.dialect != DialectPostgres {
		return 8
	}
	return min(8, max(1, s.wdb.Stats().MaxOpenConnections/4))
}

// noteQueued marks tx's write as having queued events, so that the writer
// pokes EventsQueued once it commits.
func noteQueued(tx *gorm.DB) {
	if t := tallyOf(tx); t != nil {
		t.queued = true
	}
}

// errStreamNotFound is a stream that does not exist or is not the
// caller's: the two are not told apart (SSF 1.0 §8.1.1 answers 404).
func errStreamNotFound(streamID string) error {
	return fmt.Errorf("%w: stream %q", ErrNotFound, truncate(streamID, 64))
}
