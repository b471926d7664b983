package models

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
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
	Deliveries  int // stream_events: delivered (or acknowledged) SETs
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
type purgeStep struct {
	table int // index in PurgeTables
	alias string
	where string
	args  func(cutoff time.Time) []any
}

// purgeRetention gives a table (index in PurgeTables) a retention of its
// own: its rows go once older than now minus that, whatever the purge's
// cutoff.
var purgeRetention = map[int]time.Duration{7: RetiredSigningKeyTTL}

// RetiredSigningKeyTTL is how long a retired signing key stays published
// in the JWK Set (see events.RetiredKeyTTL) before the purge deletes it.
const RetiredSigningKeyTTL = 24 * time.Hour

// eventUndelivered is true for an event some stream still holds a
// delivery row for (pending, or delivered and not yet purged).
const eventUndelivered = "EXISTS (SELECT 1 FROM stream_events se WHERE se.event_id = e.id)"

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
	// Deliveries done (pushed and answered 202, or polled and
	// acknowledged) before the cutoff; a pending one never goes. Then the
	// events no stream has a row for any more.
	{5, "se", "se.delivered_at IS NOT NULL AND se.delivered_at < ?", func(c time.Time) []any { return []any{c} }},
	{6, "e", "e.created_at < ? AND NOT " + eventUndelivered, func(c time.Time) []any { return []any{c} }},
	// Retired keys, once nothing they signed can be in flight; the key
	// that signs (retired_at NULL) never.
	{7, "k", "k.retired_at < ?", func(c time.Time) []any { return []any{c} }}, // purgeRetention
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
	counts := []*int{&res.Tokens, &res.Codes, &res.Sessions, &res.SetupTokens, &res.Grants, &res.Deliveries, &res.Events, &res.SigningKeys}
	for _, st := range purgeSteps {
		table := PurgeTables[st.table]
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
		{&res.Deliveries, "SELECT COUNT(*) FROM stream_events se WHERE se.delivered_at IS NOT NULL AND se.delivered_at < ?", []any{c}},
		{&res.Events, "SELECT COUNT(*) FROM events e WHERE e.created_at < ? AND NOT EXISTS (SELECT 1 FROM stream_events se WHERE se.event_id = e.id" +
			" AND (se.delivered_at IS NULL OR se.delivered_at >= ?))", []any{c, c}},
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
		case res.Tokens+res.Codes+res.Sessions+res.SetupTokens+res.Grants+res.Deliveries+res.Events+res.SigningKeys > 0:
			s.log.Info("purged", "before", res.Before, "tokens", res.Tokens, "codes", res.Codes, "sessions", res.Sessions,
				"setup_tokens", res.SetupTokens, "grants", res.Grants, "stream_events", res.Deliveries, "events", res.Events,
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
