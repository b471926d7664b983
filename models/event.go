package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	// JTI is unique (see eventJTI); a SET's jti is built from it and the
	// stream's id, so a retry carries the same jti. Set when the event is
	// read back for delivery.
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

// queueEventTx puts ev, a session-revoked event, into the outbox of tx's
// transaction: it is written, with a delivery row for every stream that is
// enabled or paused, by flushOutbox just before the transaction commits
// (the writer does that once for all the writes of a group commit, so a
// revocation pays for a row, not for two statements). It is the only way
// into the outbox, and the revocation core its only caller.
func (s *Store) queueEventTx(tx *gorm.DB, ev *Event) error {
	ev.Type = EventSessionRevoked
	ev.ReasonAdmin, ev.ReasonUser = truncate(ev.ReasonAdmin, 500), truncate(ev.ReasonUser, 500)
	if t := tallyOf(tx); t != nil {
		t.events = append(t.events, ev)
		return nil
	}
	_, err := s.flushOutbox(tx, []*Event{ev})
	return err
}

// outboxChunk bounds the rows of one multi-row INSERT of events (13
// parameters each), deliveryChunk those of deliveries (3 each): well
// within both databases' limits.
const (
	outboxChunk   = 64
	deliveryChunk = 256
)

// The outbox statements: the live streams, and multi-row INSERTs of
// events and of deliveries for each power of two of rows up to the chunk
// sizes. A batch of any size is written as a few of them (pow2Runs), so
// they are prepared once (hotStatements) rather than once per commit.
var (
	qSessionRevokedStreams = "SELECT id, events_requested FROM streams WHERE status <> 'disabled'"
	qInsertEvents          = map[int]string{}
	qInsertDeliveries      = map[int]string{}
	outboxStatements       = outboxStatementList()
)

func outboxStatementList() []string {
	out := []string{qSessionRevokedStreams}
	for n := 1; n <= deliveryChunk; n *= 2 {
		if n <= outboxChunk {
			qInsertEvents[n] = "INSERT INTO events (" + eventColumnsInsert + ") VALUES " + placeholders(n, 13) + " RETURNING id"
			out = append(out, qInsertEvents[n])
		}
		qInsertDeliveries[n] = "INSERT INTO stream_events (stream_id, event_id, next_attempt_at) VALUES " + placeholders(n, 3)
		out = append(out, qInsertDeliveries[n])
	}
	return out
}

// pow2Runs splits n rows into runs of powers of two, largest first, none
// above max (a power of two): 100 with max 64 is 64, 32, 4.
func pow2Runs(n, max int) []int {
	var out []int
	for run := max; n > 0; run /= 2 {
		for n >= run {
			out = append(out, run)
			n -= run
		}
	}
	return out
}

// flushOutbox writes the events a transaction queued: the outbox rows,
// then a delivery row for each on every stream that is enabled or paused
// and asked for them. It runs inside the transaction, just before the
// commit, so the events commit, or roll back, with the revocations that
// made them. It returns how many deliveries it queued.
func (s *Store) flushOutbox(tx *gorm.DB, evs []*Event) (int64, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	conn := connOf(tx)
	// With no stream to deliver to there is nothing to keep: a stream
	// receives the events that happen after it was created. Most
	// deployments without receivers then pay one indexed read per group
	// commit instead of two writes per revocation.
	targets, err := s.sessionRevokedStreams(conn)
	if err != nil || len(targets) == 0 {
		return 0, err
	}
	ids := make([]int64, 0, len(evs))
	args := make([]any, 0, 13*min(len(evs), outboxChunk))
	rest := evs
	for _, n := range pow2Runs(len(evs), outboxChunk) {
		args = args[:0]
		for _, ev := range rest[:n] {
			args = append(args, "", ev.Type, nullString(ev.SID), ev.UserID, ev.Username, ev.ClientID, ev.ClientPublicID,
				string(ev.Initiating), ev.ReasonAdmin, ev.ReasonUser, ev.State, ev.EventTime, ev.CreatedAt)
		}
		rest = rest[n:]
		// The ids come back in no promised order; each event's own is not
		// needed, only the set.
		rows, err := s.queryHot(conn, qInsertEvents[n], args...)
		if err != nil {
			return 0, err
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return 0, err
			}
			ids = append(ids, id)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return 0, err
		}
	}
	if len(ids) != len(evs) {
		return 0, fmt.Errorf("models: outbox: %d ids for %d events", len(ids), len(evs))
	}
	// Each delivery is due at once: at the earliest the events were
	// stamped (with the store's clock, in this transaction), which is no
	// later than its own event.
	due := evs[0].CreatedAt
	for _, ev := range evs[1:] {
		if ev.CreatedAt.Before(due) {
			due = ev.CreatedAt
		}
	}
	deliveries := make([]any, 0, 3*len(targets)*len(ids))
	for _, st := range targets {
		for _, id := range ids {
			deliveries = append(deliveries, st, id, due)
		}
	}
	if err := s.insertDeliveries(tx, deliveries); err != nil {
		return 0, err
	}
	return int64(len(targets) * len(ids)), nil
}

// queryHot runs one of the hot statements that return rows on the
// writer's transaction conn (see exec and query).
func (s *Store) queryHot(conn gorm.ConnPool, query string, args ...any) (rowSource, error) {
	if st := s.hw.stmt(conn, query); st != nil {
		return s.hw.query(st, args)
	}
	if err := s.unprepared(conn, query); err != nil {
		return nil, err
	}
	return conn.QueryContext(context.Background(), s.rebind(query), args...)
}

// sessionRevokedStreams returns the row ids of the streams that take a
// session-revoked event now: enabled or paused (a paused stream holds its
// events), and asking for it (no events_requested means every type).
// Streams are few; the revocation's group commit reads them once.
func (s *Store) sessionRevokedStreams(conn gorm.ConnPool) ([]int64, error) {
	rows, err := s.queryHot(conn, qSessionRevokedStreams)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		var requested string
		if err := rows.Scan(&id, &requested); err != nil {
			return nil, err
		}
		if requested == "" || slices.Contains(strings.Fields(requested), EventSessionRevoked) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// insertDeliveries queues deliveries, given as (stream row id, event id,
// due) triples flattened into args: one insert into stream_events' key
// each. A delivery is pending as long as its row exists.
func (s *Store) insertDeliveries(tx *gorm.DB, args []any) error {
	for _, n := range pow2Runs(len(args)/3, deliveryChunk) {
		if _, err := s.exec(tx, qInsertDeliveries[n], args[:3*n]...); err != nil {
			return err
		}
		args = args[3*n:]
	}
	return nil
}

// An event's jti (RFC 8417 §2.2: unique) is not stored: it is the
// database's random prefix, made by the migration that created the
// database's outbox, a hyphen and the event's id. Ids are never reused
// within a database, and a new database has a new prefix, so a jti never
// repeats; an acknowledgement names events by jti, and eventIDOfJTI parses
// the id back instead of looking it up through an index every revocation
// would pay for. Events written before the jti was derived keep the one
// they were sent with (the jti column; '' on newer rows).

// jtiPrefix returns the database's jti prefix, read once.
func (s *Store) jtiPrefix(ctx context.Context) (string, error) {
	s.jti.mu.Lock()
	defer s.jti.mu.Unlock()
	if s.jti.prefix == "" {
		var p string
		if err := s.rdb.QueryRowContext(ctx, "SELECT prefix FROM event_jti_prefix").Scan(&p); err != nil {
			return "", unavailable("event jti prefix", err)
		}
		s.jti.prefix = p + "-"
	}
	return s.jti.prefix, nil
}

// jtiPrefixCache holds the jti prefix once read.
type jtiPrefixCache struct {
	mu     sync.Mutex
	prefix string // with its trailing hyphen
}

// eventJTI returns an event's jti: stored, for an event written before
// jtis were derived, or the prefix and the id.
func eventJTI(prefix string, id int64, stored string) string {
	if stored != "" {
		return stored
	}
	return prefix + strconv.FormatInt(id, 10)
}

// eventIDOfJTI returns the event id a derived jti names, or 0 when jti is
// not one of this database's (a stored jti, or none of ours). Only the
// canonical form parses: one jti names one event.
func eventIDOfJTI(prefix, jti string) int64 {
	rest, ok := strings.CutPrefix(jti, prefix)
	if !ok {
		return 0
	}
	id, err := strconv.ParseInt(rest, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != rest {
		return 0
	}
	return id
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
	// MarkFailed: a delivery is keyed by its stream and event, so it is
	// the event's id.
	DeliveryID    int64
	Attempts      int
	NextAttemptAt time.Time
	Event         Event
}

// qPendingEvents reads a stream's oldest pending deliveries: the start of
// its range of stream_events' key (models/event_plan_test.go checks the
// plan).
const qPendingEvents = `SELECT se.event_id, se.attempts, se.next_attempt_at, ` + eventColumns + `
FROM stream_events se JOIN events e ON e.id = se.event_id
WHERE se.stream_id = ? ORDER BY se.event_id LIMIT ?`

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
	prefix, err := s.jtiPrefix(ctx)
	if err != nil {
		return nil, err
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
		e.SID, e.JTI = sid.String, eventJTI(prefix, e.ID, e.JTI)
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
	// Owner is the receiver's client (its id), for the worker's share of
	// deliveries per receiver.
	Owner int64
	// HeadDueAt is when the oldest pending event's next attempt is due:
	// nothing on the stream may go out before it.
	HeadDueAt time.Time
	// HeadAttempts is how many pushes of that event have failed.
	HeadAttempts int
}

// qPushStreamsDue reads each enabled push stream's head: the first row of
// its range of stream_events' key.
const qPushStreamsDue = `SELECT s.stream_id, s.client_id,
 (SELECT se.next_attempt_at FROM stream_events se WHERE se.stream_id = s.id ORDER BY se.event_id LIMIT 1) AS head,
 (SELECT se.attempts FROM stream_events se WHERE se.stream_id = s.id ORDER BY se.event_id LIMIT 1) AS attempts
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
		var owner int64
		var head any
		var attempts sql.NullInt64
		if err := rows.Scan(&id, &owner, &head, &attempts); err != nil {
			return nil, unavailable("push streams due", err)
		}
		if head == nil {
			continue
		}
		out = append(out, StreamDue{StreamID: id, Owner: owner, HeadDueAt: timeOf(head), HeadAttempts: int(attempts.Int64)})
	}
	if err := rows.Err(); err != nil {
		return nil, unavailable("push streams due", err)
	}
	return out, nil
}

// MarkDelivered records that the stream's receiver accepted these
// deliveries (RFC 8935 §2: a 202): they are deleted, one delete from
// stream_events' key each, and the time is the stream's last delivery (see
// noteDelivery). A delivery already gone is ignored.
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
		if err := tx.Exec("DELETE FROM stream_events WHERE stream_id = ? AND event_id IN ?", st.id, deliveryIDs).Error; err != nil {
			return err
		}
		return noteDelivery(tx, st.id, now)
	})
	return wrapWrite("mark delivered", err)
}

// lastDeliveryResolution is how far behind a stream's last delivery time
// may lag: under load a stream records a delivered batch many times a
// second, and rewriting its row each time would add a page to most
// commits for a figure the dashboard shows to the second.
const lastDeliveryResolution = time.Second

// noteDelivery sets a stream's last delivery time to now, unless it was
// set less than lastDeliveryResolution ago (no row matches then, so
// nothing is written).
func noteDelivery(tx *gorm.DB, streamRowID int64, now time.Time) error {
	return tx.Exec("UPDATE streams SET last_delivery_at = ? WHERE id = ? AND (last_delivery_at IS NULL OR last_delivery_at <= ?)",
		now, streamRowID, now.Add(-lastDeliveryResolution)).Error
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
		if err := tx.Exec("UPDATE stream_events SET attempts = attempts + 1, next_attempt_at = ? WHERE stream_id = ? AND event_id = ?",
			next.UTC(), st.id, deliveryID).Error; err != nil {
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

// AckEvents acknowledges events on a poll stream (RFC 8936 §2.4 ack): their
// deliveries are deleted, so they are never returned again. jtis are the
// events' Event.JTI values; unknown ones are ignored. It reports how many
// it acknowledged.
func (s *Store) AckEvents(ctx context.Context, streamID string, jtis []string) (int, error) {
	if len(jtis) == 0 {
		return 0, nil
	}
	prefix, err := s.jtiPrefix(ctx)
	if err != nil {
		return 0, err
	}
	var ids []int64
	var stored []string
	for _, j := range jtis {
		if id := eventIDOfJTI(prefix, j); id != 0 {
			ids = append(ids, id)
		} else if j != "" {
			stored = append(stored, j)
		}
	}
	var n int64
	err = s.write(ctx, func(tx *gorm.DB) error {
		n = 0
		st, err := s.streamRef(ctx, tx, streamID)
		if err != nil {
			return err
		}
		ids := ids[:len(ids):len(ids)] // afresh: the writer may run this twice
		if len(stored) > 0 {
			// Events from before jtis were derived, through the partial
			// index on the jti column.
			var old []int64
			if err := tx.Raw("SELECT id FROM events WHERE jti IN ? AND jti <> ''", stored).Scan(&old).Error; err != nil {
				return err
			}
			ids = append(ids, old...)
		}
		if len(ids) == 0 {
			return nil
		}
		now := s.Now()
		res := tx.Exec("DELETE FROM stream_events WHERE stream_id = ? AND event_id IN ?", st.id, ids)
		if res.Error != nil {
			return res.Error
		}
		n = res.RowsAffected
		if n > 0 {
			return noteDelivery(tx, st.id, now)
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
		id, err := s.insertID(tx, qInsertEvent, "", EventVerification, nil, nil, "", nil, "", "", "", "", truncate(state, 500), now, now)
		if err != nil {
			return err
		}
		if err := s.insertDeliveries(tx, []any{st.ID, id, now}); err != nil {
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
