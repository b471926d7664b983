package models

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"gorm.io/gorm"
)

// purgeBatch is how many rows one purge transaction deletes. Small batches
// keep each hold on SQLite's single write lock to a few milliseconds, and
// the purge pauses as long between batches, so a purge of a million rows
// never stalls a revocation. Measured on SQLite, 200,000 dead grants with
// a token each, revoking one grant at a time meanwhile: idle, p50 0.23 ms
// and p99 1.0 ms; during the purge, p50 0.25 ms and p99 11 ms (1,000-row
// batches back to back: p50 57 ms, p99 211 ms). The purge took 17 s.
const purgeBatch = 250

// purgeLockKey is the PostgreSQL advisory lock a purge holds, so that of
// several replicas on one database one purges at a time. (Migrations use
// 7009.)
const purgeLockKey = 7009_0001

// DefaultPurgeAfter is how long rows stay after they died, by default.
const DefaultPurgeAfter = 720 * time.Hour

// PurgeOptions say what Purge deletes.
type PurgeOptions struct {
	// OlderThan: rows dead for longer than this go.
	OlderThan time.Duration
	// DryRun counts what would go and deletes nothing.
	DryRun bool

	onLocked func() // tests: runs while the lock is held
}

// PurgeResult reports what Purge deleted (or, in a dry run, would delete),
// per table.
type PurgeResult struct {
	Before      time.Time // rows dead before this instant
	DryRun      bool
	Tokens      int
	Codes       int
	Sessions    int
	SetupTokens int
	Grants      int
	Events      int // revocation events no stream still has to deliver
	SigningKeys int // retired signing keys past RetiredSigningKeyTTL
}

// tokenDead is true for a token that can no longer be used and has been
// dead since before the cutoff, with the arguments of tokenDeadArgs. A
// refresh token rotated away is not dead until it expires: presenting it
// again is how refresh-token reuse is detected (RFC 9700 §4.14.2), and a
// purged one would merely be unknown. An access token rotated away is dead
// for good.
//
// It is written so that NOT of it is true for every token it does not
// match: a bare comparison with a NULL revoked_at or rotated_at would be
// unknown, and so would its negation.
const tokenDead = "(t.expires_at < ? OR (t.revoked_at IS NOT NULL AND t.revoked_at < ?) OR (t.type = ? AND t.rotated_at IS NOT NULL AND t.rotated_at < ?))"

func tokenDeadArgs(cutoff time.Time) []any {
	return []any{cutoff, cutoff, TokenTypeAccess, cutoff}
}

// grantKept is true for a grant some row still points at: a token (a
// rotated refresh token, kept for reuse detection, or one not dead long
// enough) or a code (a used code is kept until it expires, because
// presenting it again revokes its grant, RFC 6749 §4.1.2).
const grantKept = "(EXISTS (SELECT 1 FROM tokens t WHERE t.grant_id = g.id) OR EXISTS (SELECT 1 FROM codes c WHERE c.grant_id = g.id))"

// purgeStep deletes the rows of one table that match where, a batch at a
// time. Each step's where is served by an index (models/queryplan_test.go).
// A table in purgeWalks is purged by its walk instead.
type purgeStep struct {
	table int // index in PurgeTables
	alias string
	where string
	args  func(cutoff time.Time) []any
}

// purgeWalks purge a table (index in PurgeTables) in a way of their own.
var purgeWalks = map[int]func(s *Store, ctx context.Context, cutoff time.Time) (int64, error){5: (*Store).purgeEvents}

// purgeRetention gives a table (index in PurgeTables) a retention of its
// own: its rows go once older than now minus that, whatever the purge's
// cutoff.
var purgeRetention = map[int]time.Duration{6: RetiredSigningKeyTTL}

// RetiredSigningKeyTTL is how long a retired signing key stays published
// in the JWK Set (see events.RetiredKeyTTL) before the purge deletes it.
const RetiredSigningKeyTTL = 24 * time.Hour

// eventUndelivered is true for the event e some stream still has to
// deliver: one lookup of stream_events' key per stream (streams are few).
// A delivery row whose stream is gone (a stream deleted while a
// revocation queued an event on it, on PostgreSQL) holds nothing back.
const eventUndelivered = "EXISTS (SELECT 1 FROM stream_events se WHERE se.stream_id IN (SELECT id FROM streams) AND se.event_id = e.id)"

var purgeSteps = []purgeStep{
	{0, "t", "t.expires_at < ?", func(c time.Time) []any { return []any{c} }},
	{0, "t", "t.revoked_at < ?", func(c time.Time) []any { return []any{c} }},
	{0, "t", "t.type = ? AND t.rotated_at < ?", func(c time.Time) []any { return []any{TokenTypeAccess, c} }},
	{1, "c", "c.expires_at < ?", func(c time.Time) []any { return []any{c} }},
	{2, "s", "s.expires_at < ?", func(c time.Time) []any { return []any{c} }},
	{3, "s", "s.expires_at < ? OR s.used_at < ?", func(c time.Time) []any { return []any{c, c} }},
	// Grants last, once their tokens are gone. A revoked grant was live
	// when it was revoked, so it has been dead since revoked_at.
	{4, "g", "g.revoked_at IS NULL AND g.expires_at < ? AND NOT " + grantKept, func(c time.Time) []any { return []any{c} }},
	{4, "g", "g.revoked_at < ? AND NOT " + grantKept, func(c time.Time) []any { return []any{c} }},
	// Events no stream still has to deliver (a delivery row goes when it
	// is delivered or acknowledged; a pending one holds its event,
	// however old).
	{table: 5}, // purgeWalks
	// Retired keys, once nothing they signed can be in flight; the key
	// that signs (retired_at NULL) never.
	{6, "k", "k.retired_at < ?", func(c time.Time) []any { return []any{c} }}, // purgeRetention
}

// Purge deletes what can no longer be used and has been dead for longer
// than o.OlderThan: tokens that expired or were revoked, authorization
// codes, browser sessions and setup links that expired, and grants that
// expired or were revoked and have no token or code left. Audit events
// stay: an event names its grant by id, and the audit trail never needs
// the row.
//
// What reuse detection needs stays until it expires, however long ago it
// was used: a refresh token rotated away and a used code, and the grant
// they belong to.
//
// Rows go in batches of purgeBatch, each in its own short transaction. One
// purge runs at a time: in this process, and on PostgreSQL across replicas
// (a session advisory lock, released when the purge ends or its connection
// drops). A purge that finds another running returns ErrPurgeBusy. A dry
// run takes no lock and counts what a purge would delete now.
func (s *Store) Purge(ctx context.Context, o PurgeOptions) (PurgeResult, error) {
	if o.OlderThan < 0 {
		return PurgeResult{}, fmt.Errorf("%w: the age must not be negative", ErrInvalid)
	}
	cutoff := s.Now().Add(-o.OlderThan)
	res := PurgeResult{Before: cutoff, DryRun: o.DryRun}
	if o.DryRun {
		return s.countPurge(ctx, res)
	}
	unlock, err := s.lockPurge(ctx)
	if errors.Is(err, ErrPurgeBusy) {
		s.counters.purgeRuns[1].Add(1)
		return res, err
	}
	if err != nil {
		s.counters.purgeRuns[2].Add(1)
		return res, err
	}
	defer unlock()
	if o.onLocked != nil {
		o.onLocked()
	}
	counts := []*int{&res.Tokens, &res.Codes, &res.Sessions, &res.SetupTokens, &res.Grants, &res.Events, &res.SigningKeys}
	for _, st := range purgeSteps {
		table := PurgeTables[st.table]
		if walk := purgeWalks[st.table]; walk != nil {
			n, err := walk(s, ctx, cutoff)
			*counts[st.table] += int(n)
			s.counters.purged[st.table].Add(n)
			if err != nil {
				if ctx.Err() == nil {
					s.counters.purgeRuns[2].Add(1)
				}
				return res, err
			}
			continue
		}
		// The subquery picks one batch; DELETE … WHERE id IN (SELECT … LIMIT)
		// works on SQLite and PostgreSQL alike.
		q := fmt.Sprintf("DELETE FROM %s WHERE id IN (SELECT %s.id FROM %s %s WHERE %s LIMIT %d)",
			table, st.alias, table, st.alias, st.where, purgeBatch)
		c := cutoff
		if age, ok := purgeRetention[st.table]; ok {
			c = s.Now().Add(-age)
		}
		args := st.args(c)
		for {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			var n int64
			began := time.Now()
			err := s.write(ctx, func(tx *gorm.DB) error {
				r := tx.Exec(q, args...)
				n = r.RowsAffected
				return r.Error
			})
			took := time.Since(began)
			if err != nil {
				s.counters.purgeRuns[2].Add(1)
				return res, unavailable("purge "+table, err)
			}
			*counts[st.table] += int(n)
			s.counters.purged[st.table].Add(n)
			if n < purgeBatch {
				break
			}
			// Leave the writer idle as long as the batch held it, so that
			// writes queued behind the batch commit on their own rather
			// than in one transaction with the next batch.
			pause(ctx, min(took, time.Second))
		}
	}
	s.counters.purgeRuns[0].Add(1)
	s.counters.purgeLastSuccess.Store(s.Now().Unix())
	return res, nil
}

// countPurge counts, per table, what a purge with res.Before would delete
// now: grants too, though a purge deletes them only once their tokens and
// codes are gone.
func (s *Store) countPurge(ctx context.Context, res PurgeResult) (PurgeResult, error) {
	c := res.Before
	tokenArgs := tokenDeadArgs(c)
	queries := []struct {
		n    *int
		q    string
		args []any
	}{
		{&res.Tokens, "SELECT COUNT(*) FROM tokens t WHERE " + tokenDead, tokenArgs},
		{&res.Codes, "SELECT COUNT(*) FROM codes c WHERE c.expires_at < ?", []any{c}},
		{&res.Sessions, "SELECT COUNT(*) FROM sessions s WHERE s.expires_at < ?", []any{c}},
		{&res.SetupTokens, "SELECT COUNT(*) FROM setup_tokens s WHERE s.expires_at < ? OR s.used_at < ?", []any{c, c}},
		{&res.Grants, "SELECT COUNT(*) FROM grants g WHERE (g.revoked_at < ? OR (g.revoked_at IS NULL AND g.expires_at < ?))" +
			" AND NOT EXISTS (SELECT 1 FROM tokens t WHERE t.grant_id = g.id AND NOT " + tokenDead + ")" +
			" AND NOT EXISTS (SELECT 1 FROM codes c WHERE c.grant_id = g.id AND c.expires_at >= ?)",
			append(append([]any{c, c}, tokenArgs...), c)},
		{&res.Events, "SELECT COUNT(*) FROM events e WHERE e.id < " + eventsYoungFrom + " AND NOT " + eventUndelivered, []any{c}},
		{&res.SigningKeys, "SELECT COUNT(*) FROM signing_keys k WHERE k.retired_at < ?", []any{s.Now().Add(-RetiredSigningKeyTTL)}},
	}
	for _, q := range queries {
		var n int64
		if err := s.r.WithContext(ctx).Raw(q.q, q.args...).Scan(&n).Error; err != nil {
			return res, unavailable("count purge", err)
		}
		*q.n = int(n)
	}
	return res, nil
}

// eventsYoungFrom is SQL for the id of the first event not older than
// the cutoff (the one parameter), or past every id when there is none.
// Ids grow with created_at (an event is stamped in the transaction that
// writes it), so the events older than the cutoff are those below it. It
// reads events in id order from the oldest and stops at the first young
// one: the old ones only, with no index on created_at for every
// revocation to write.
const eventsYoungFrom = "COALESCE((SELECT y.id FROM events y WHERE y.created_at >= ? ORDER BY y.id LIMIT 1), 9223372036854775807)"

// purgeEvents deletes the events older than cutoff that no stream still
// has to deliver: it walks them in id order, purgeBatch ids a transaction,
// from the oldest to the first not older than cutoff, skipping those still
// pending somewhere (a cursor, so a long backlog is read once per purge,
// not once per batch). It returns how many it deleted.
func (s *Store) purgeEvents(ctx context.Context, cutoff time.Time) (int64, error) {
	var after, total int64
	del := "DELETE FROM events WHERE id IN ? AND NOT " + strings.ReplaceAll(eventUndelivered, "e.id", "events.id")
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var n, last int64
		var done bool
		began := time.Now()
		err := s.write(ctx, func(tx *gorm.DB) error {
			n, last, done = 0, after, false
			rows, err := tx.Raw("SELECT id, created_at FROM events WHERE id > ? ORDER BY id LIMIT ?", after, purgeBatch).Rows()
			if err != nil {
				return err
			}
			var ids []int64
			seen := 0
			for rows.Next() {
				var id int64
				var at time.Time
				if err := rows.Scan(&id, &at); err != nil {
					rows.Close()
					return err
				}
				seen++
				if !at.Before(cutoff) {
					done = true
					break
				}
				ids, last = append(ids, id), id
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return err
			}
			done = done || seen < purgeBatch
			if len(ids) == 0 {
				return nil
			}
			r := tx.Exec(del, ids)
			n = r.RowsAffected
			return r.Error
		})
		took := time.Since(began)
		if err != nil {
			return total, unavailable("purge events", err)
		}
		total += n
		after = last
		if done {
			return total, nil
		}
		pause(ctx, min(took, time.Second))
	}
}

// lockPurge takes the purge lock, or returns ErrPurgeBusy.
func (s *Store) lockPurge(ctx context.Context) (unlock func(), err error) {
	if !s.purging.TryLock() {
		return nil, ErrPurgeBusy
	}
	if s.dialect != DialectPostgres {
		return s.purging.Unlock, nil
	}
	db, err := s.w.DB()
	if err != nil {
		s.purging.Unlock()
		return nil, unavailable("purge lock", err)
	}
	// A session lock lives on one connection: keep that connection for
	// the whole purge. If this process dies, PostgreSQL ends the session
	// and the lock with it.
	conn, err := db.Conn(ctx)
	if err != nil {
		s.purging.Unlock()
		return nil, unavailable("purge lock", err)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock($1)", purgeLockKey).Scan(&ok); err != nil || !ok {
		conn.Close()
		s.purging.Unlock()
		if err != nil {
			return nil, unavailable("purge lock", err)
		}
		return nil, ErrPurgeBusy
	}
	return func() {
		defer s.purging.Unlock()
		var released bool
		err := conn.QueryRowContext(context.Background(), "SELECT pg_advisory_unlock($1)", purgeLockKey).Scan(&released)
		if err != nil || !released {
			// Never hand a connection that may still hold the lock back
			// to the pool: close it, and the session's lock goes with it.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
		conn.Close()
	}, nil
}

// PurgerOptions tune the background purge.
type PurgerOptions struct {
	// OlderThan: rows dead for longer than this go (--purge-after).
	OlderThan time.Duration
	// Interval between purges; each wait is jittered by ±20 %, so that
	// replicas started together drift apart. Zero means 10 minutes.
	Interval time.Duration
	// FirstDelay is the wait before the first purge (also jittered), so
	// that a server starting up serves first.
	FirstDelay time.Duration
}

// RunPurger purges now and then until ctx ends, and returns then. A purge
// another replica is running is skipped; a failed one is logged and tried
// again at the next interval.
func (s *Store) RunPurger(ctx context.Context, o PurgerOptions) {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Minute
	}
	wait := o.FirstDelay
	for {
		t := time.NewTimer(jitter(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = o.Interval
		start := time.Now()
		res, err := s.Purge(ctx, PurgeOptions{OlderThan: o.OlderThan})
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrPurgeBusy):
			s.log.Info("purge skipped: another replica is purging")
		case err != nil:
			s.log.Warn("purge failed", "err", err)
		case res.Tokens+res.Codes+res.Sessions+res.SetupTokens+res.Grants+res.Events+res.SigningKeys > 0:
			s.log.Info("purged", "before", res.Before, "tokens", res.Tokens, "codes", res.Codes, "sessions", res.Sessions,
				"setup_tokens", res.SetupTokens, "grants", res.Grants, "events", res.Events,
				"signing_keys", res.SigningKeys, "duration", time.Since(start).Round(time.Millisecond).String())
		}
	}
}

// pause waits for d or until ctx ends.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// jitter returns d ± 20 %.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
