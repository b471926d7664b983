package models

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// The overview's counts are kept by the writes that change them, in the
// table counts, so that the overview reads a few dozen small rows instead
// of counting a million live tokens.
//
// "Active" depends on the clock: a token stops being active when it
// expires, without any write. So live tokens and grants are counted per
// expiry bucket: every write that makes a token or grant live adds one to
// the bucket of its expires_at, and every write that ends it early (a
// revocation, a rotation, a refresh moving a grant's expiry) takes one from
// the same bucket. The rows hold, per kind, how many rows are live (not
// revoked, not rotated) and expire within each bucket, whether or not that
// time has passed. The active count at t is then
//
//	the hour buckets from the next full hour on
//	+ the minute buckets from the next full minute up to that hour
//	+ a count of live rows expiring between t and the next full minute,
//
// the last over the partial indexes tokens_live_type and grants_live: one
// minute of expiries at most. Nothing is recounted and nothing needs a
// background job; each delta is computed from the rows its own statement
// changed (UPDATE … RETURNING), so the counts stay exact with concurrent
// writers on PostgreSQL and whatever the replicas' clocks say.
//
// Revocations of the last 24 hours are kept the same way, bucketed by the
// time they happened, with the part of the window's first minute counted
// from audit_events. Clients and users are plain totals.
//
// A write collects its deltas in its tally; the writer adds them in one
// statement per bucket, sorted, just before the commit (once for all the
// writes of a group commit), so the counts commit or roll back with the
// rows they count.

// countKind names one kept count.
type countKind string

// The kept counts. The first three are bucketed by expiry, the next two by
// when the revocation happened, the last two are totals.
const (
	countAccess        countKind = "access_token"
	countRefresh       countKind = "refresh_token"
	countGrant         countKind = "grant"
	countRevocations   countKind = "revocation"
	countRevokedTokens countKind = "revoked_tokens"
	countClients       countKind = "client"
	countUsers         countKind = "user"
)

// The bucket spans, in seconds. 0 is a total.
const (
	spanMinute = 60
	spanHour   = 3600
	spanDay    = 86400
)

// countKey is one row of counts.
type countKey struct {
	kind  countKind
	span  int64
	start int64 // unix seconds, a multiple of span
}

func tokenCountKind(t TokenType) countKind {
	if t == TokenTypeRefresh {
		return countRefresh
	}
	return countAccess
}

// bucketed adds delta to kind's minute and hour buckets of at (and its day
// bucket, for the chart's kind).
func bucketed(kind countKind, at time.Time, delta int64, into map[countKey]int64) {
	u := at.Unix()
	all := [...]int64{spanMinute, spanHour, spanDay} // an array: no allocation per call
	spans := all[:2]
	if kind == countRevokedTokens {
		spans = all[:]
	}
	for _, span := range spans {
		into[countKey{kind, span, floorDiv(u, span) * span}] += delta
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// countLive records that a token or grant of kind, expiring at exp, became
// live (+1) or stopped being live early (-1), in tx's write.
func (s *Store) countLive(tx *gorm.DB, kind countKind, exp time.Time, delta int64) error {
	return s.addCounts(tx, func(m map[countKey]int64) { bucketed(kind, exp, delta, m) })
}

// countTotal adds delta to a total (clients, users).
func (s *Store) countTotal(tx *gorm.DB, kind countKind, delta int64) error {
	return s.addCounts(tx, func(m map[countKey]int64) { m[countKey{kind, 0, 0}] += delta })
}

// addCounts hands deltas to tx's write, to be added before it commits; a
// transaction outside the writer adds them at once.
func (s *Store) addCounts(tx *gorm.DB, add func(map[countKey]int64)) error {
	if t := tallyOf(tx); t != nil {
		if t.counts == nil {
			t.counts = map[countKey]int64{}
		}
		add(t.counts)
		return nil
	}
	m := map[countKey]int64{}
	add(m)
	return s.flushCounts(tx, m)
}

// qAddCount adds to one counts row, creating it if needed.
const qAddCount = "INSERT INTO counts (kind, span, start, n) VALUES (?, ?, ?, ?) " +
	"ON CONFLICT (kind, span, start, shard) DO UPDATE SET n = counts.n + excluded.n"

// flushCounts adds a transaction's deltas, one row at a time in key order:
// on PostgreSQL, concurrent transactions then lock the rows they share in
// the same order and cannot deadlock on them.
func (s *Store) flushCounts(tx *gorm.DB, deltas map[countKey]int64) error {
	if len(deltas) == 0 {
		return nil
	}
	keys := make([]countKey, 0, len(deltas))
	for k, d := range deltas {
		if d != 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b countKey) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.span, b.span), cmp.Compare(a.start, b.start))
	})
	if s.dialect == DialectPostgres {
		return s.flushCountsPostgres(tx, keys, deltas)
	}
	for _, k := range keys {
		if _, err := s.exec(tx, qAddCount, string(k.kind), k.span, k.start, deltas[k]); err != nil {
			return err
		}
	}
	return nil
}

// mergeCounts sums the deltas of several writes sharing a transaction.
func mergeCounts(ts []*tally) map[countKey]int64 {
	out := map[countKey]int64{}
	for _, t := range ts {
		for k, d := range t.counts {
			out[k] += d
		}
	}
	return out
}

// countReturned reads the rows an UPDATE … RETURNING gave and takes each
// from its kind's live count, returning how many rows there were. The rows
// are (type, expires_at) of tokens when kind is "", (expires_at,
// client_id) of grants when kind is countGrant, and (expires_at) of
// tokens of kind otherwise. For grants it also counts them per client.
func (s *Store) countReturned(tx *gorm.DB, rows rowSource, kind countKind) (int, map[int64]int, error) {
	defer rows.Close()
	n := 0
	deltas := map[countKey]int64{}
	var clients map[int64]int
	if kind == countGrant {
		clients = map[int64]int{}
	}
	for rows.Next() {
		var typ string
		var exp any
		var client int64
		var err error
		switch kind {
		case "":
			err = rows.Scan(&typ, &exp)
		case countGrant:
			err = rows.Scan(&exp, &client)
			clients[client]++
		default:
			err = rows.Scan(&exp)
		}
		if err != nil {
			return 0, nil, err
		}
		k := kind
		if k == "" {
			k = tokenCountKind(TokenType(typ))
		}
		bucketed(k, timeOf(exp), -1, deltas)
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	return n, clients, s.addCounts(tx, func(m map[countKey]int64) {
		for k, d := range deltas {
			m[k] += d
		}
	})
}

// query runs one of the hot statements that return rows (UPDATE …
// RETURNING) on tx's connection; see exec.
func (s *Store) query(tx *gorm.DB, query string, args ...any) (rowSource, error) {
	return s.queryHot(connOf(tx), query, args...)
}

// liveCounts are the overview's counts at one instant.
type liveCounts struct {
	access, refresh, grants    int64
	revocations, revokedTokens int64
	clients, users             int64
	revokedByDay               map[int64]int64 // day start (unix) → tokens revoked
}

// qBucketSum sums one kind's buckets of one span in [from, to).
const qBucketSum = "SELECT COALESCE(SUM(n), 0) FROM counts WHERE kind = ? AND span = ? AND start >= ? AND start < ?"

// keptCounts reads the kept counts at now: each a few short ranges of the
// counts table's primary key, plus the live rows expiring within the
// current minute and the revocations in the first minute of the 24-hour
// window, each a short index range.
func (s *Store) keptCounts(ctx context.Context, now time.Time, days time.Time) (*liveCounts, error) {
	u := now.Unix()
	m1 := floorDiv(u, spanMinute)*spanMinute + spanMinute // the next full minute
	h1 := floorDiv(u, spanHour)*spanHour + spanHour       // the next full hour
	if m1 > h1 {
		m1 = h1
	}
	const far = int64(1) << 62
	win := now.Add(-24 * time.Hour)
	wu := win.Unix()
	if win.Nanosecond() > 0 {
		wu++ // the window starts inside that second: its first full second is next
	}
	wm := floorDiv(wu+spanMinute-1, spanMinute) * spanMinute // the window's first full minute
	wh := floorDiv(wu+spanHour-1, spanHour) * spanHour       // and full hour
	if wm > wh {
		wm = wh
	}
	out := &liveCounts{revokedByDay: map[int64]int64{}}
	sum := func(kind countKind, span, from, to int64) (int64, error) {
		var n int64
		err := s.readRow(ctx, qBucketSum, string(kind), span, from, to).Scan(&n)
		return n, err
	}
	var err error
	live := func(kind countKind, partial string, args ...any) (int64, error) {
		hours, err := sum(kind, spanHour, h1, far)
		if err != nil {
			return 0, err
		}
		minutes, err := sum(kind, spanMinute, m1, h1)
		if err != nil {
			return 0, err
		}
		var p int64
		err = s.readRow(ctx, partial, append(args, now, time.Unix(m1, 0).UTC())...).Scan(&p)
		return hours + minutes + p, err
	}
	if out.access, err = live(countAccess, s.qLiveTokensBefore(), TokenTypeAccess); err != nil {
		return nil, err
	}
	if out.refresh, err = live(countRefresh, s.qLiveTokensBefore(), TokenTypeRefresh); err != nil {
		return nil, err
	}
	if out.grants, err = live(countGrant, qLiveGrantsBefore); err != nil {
		return nil, err
	}
	recent := func(kind countKind, partial string) (int64, error) {
		hours, err := sum(kind, spanHour, wh, far)
		if err != nil {
			return 0, err
		}
		minutes, err := sum(kind, spanMinute, wm, wh)
		if err != nil {
			return 0, err
		}
		var p int64
		err = s.readRow(ctx, partial, append([]any{win, time.Unix(wm, 0).UTC()}, anys(revocationActions)...)...).Scan(&p)
		return hours + minutes + p, err
	}
	if out.revocations, err = recent(countRevocations, qRecentRevocationsBefore); err != nil {
		return nil, err
	}
	if out.revokedTokens, err = recent(countRevokedTokens, qRecentRevokedTokensBefore); err != nil {
		return nil, err
	}
	if out.clients, err = sum(countClients, 0, 0, 1); err != nil {
		return nil, err
	}
	if out.users, err = sum(countUsers, 0, 0, 1); err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, s.rebind("SELECT start, n FROM counts WHERE kind = ? AND span = ? AND start >= ?"),
		string(countRevokedTokens), int64(spanDay), days.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var start, n int64
		if err := rows.Scan(&start, &n); err != nil {
			return nil, err
		}
		out.revokedByDay[start] += n // a day's shards
	}
	return out, rows.Err()
}

// The partial counts: live rows expiring in (now, next full minute), and
// revocations in [window start, its first full minute).
func (s *Store) qLiveTokensBefore() string {
	from := "tokens"
	if s.dialect == DialectSQLite {
		// Without statistics SQLite may prefer tokens_type for "type = ?",
		// which matches every token of the type, live or not (tokens_revoked,
		// once a candidate for "revoked_at IS NULL", now holds revoked
		// tokens only).
		from = "tokens INDEXED BY tokens_live_type"
	}
	return "SELECT COUNT(*) FROM " + from + " WHERE type = ? AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > ? AND expires_at < ?"
}

const qLiveGrantsBefore = "SELECT COUNT(*) FROM grants WHERE revoked_at IS NULL AND expires_at > ? AND expires_at < ?"

var (
	revocationActionsIn        = "action IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(revocationActions)), ", ") + ")"
	qRecentRevocationsBefore   = "SELECT COUNT(*) FROM audit_events WHERE created_at >= ? AND created_at < ? AND grants > 0 AND " + revocationActionsIn
	qRecentRevokedTokensBefore = "SELECT COALESCE(SUM(tokens), 0) FROM audit_events WHERE created_at >= ? AND created_at < ? AND grants > 0 AND " + revocationActionsIn
)

func anys[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// rebuildCounts recomputes the counts table from the rows it counts: the
// migration that creates the table runs it, and so can a database filled
// by other means (the benchmark's bulk seed).
func (s *Store) rebuildCounts(tx *gorm.DB) error {
	epoch := map[Dialect]string{
		DialectSQLite:   "CAST(strftime('%%s', %[1]s) AS INTEGER)",
		DialectPostgres: "CAST(FLOOR(EXTRACT(EPOCH FROM %[1]s)) AS BIGINT)",
	}[s.dialect]
	bucket := func(col string, span int) string {
		e := fmt.Sprintf(epoch, col)
		return fmt.Sprintf("(%s - (%s %% %d))", e, e, span)
	}
	stmts := []string{"DELETE FROM counts"}
	for _, span := range []int{spanMinute, spanHour} {
		stmts = append(stmts,
			"INSERT INTO counts (kind, span, start, n) SELECT type, "+strconv.Itoa(span)+", "+bucket("expires_at", span)+", COUNT(*) FROM tokens "+
				"WHERE revoked_at IS NULL AND rotated_at IS NULL GROUP BY 1, 2, 3",
			"INSERT INTO counts (kind, span, start, n) SELECT 'grant', "+strconv.Itoa(span)+", "+bucket("expires_at", span)+", COUNT(*) FROM grants "+
				"WHERE revoked_at IS NULL GROUP BY 1, 2, 3",
			"INSERT INTO counts (kind, span, start, n) SELECT 'revocation', "+strconv.Itoa(span)+", "+bucket("created_at", span)+", COUNT(*) FROM audit_events "+
				"WHERE grants > 0 AND action IN ? GROUP BY 1, 2, 3")
	}
	for _, span := range []int{spanMinute, spanHour, spanDay} {
		stmts = append(stmts, "INSERT INTO counts (kind, span, start, n) SELECT 'revoked_tokens', "+strconv.Itoa(span)+", "+bucket("created_at", span)+
			", SUM(tokens) FROM audit_events WHERE grants > 0 AND action IN ? GROUP BY 1, 2, 3")
	}
	stmts = append(stmts,
		"INSERT INTO counts (kind, span, start, n) SELECT 'client', 0, 0, COUNT(*) FROM clients",
		"INSERT INTO counts (kind, span, start, n) SELECT 'user', 0, 0, COUNT(*) FROM users")
	for _, q := range stmts {
		var args []any
		if strings.Contains(q, "?") {
			args = []any{revocationActions}
		}
		if err := tx.Exec(q, args...).Error; err != nil {
			return err
		}
	}
	return nil
}

// RebuildCounts recomputes the overview's kept counts from the data, in
// one transaction. The writes keep them; this is for a database filled
// without them (a bulk load).
func (s *Store) RebuildCounts(ctx context.Context) error {
	return wrapWrite("rebuild counts", s.write(ctx, s.rebuildCounts))
}
