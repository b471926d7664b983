package models

import (
	"context"
	"fmt"
	"sync"
	"time"

	"gorm.io/gorm"
)

// AuditEventsForTest returns every audit event, oldest first.
func (s *Store) AuditEventsForTest(ctx context.Context) ([]AuditEvent, error) {
	var evs []AuditEvent
	err := s.r.WithContext(ctx).Order("id").Find(&evs).Error
	return evs, err
}

// RawForTest runs a query on the reader and returns its rows as strings.
func (s *Store) RawForTest(ctx context.Context, q string) ([]string, error) {
	rows, err := s.r.WithContext(ctx).Raw(q).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprint(vals...))
	}
	return out, rows.Err()
}

// WriterPragmaForTest reads a PRAGMA on the writer connection.
func (s *Store) WriterPragmaForTest(name string) (string, error) {
	var v string
	err := s.w.Raw("PRAGMA " + name).Row().Scan(&v)
	return v, err
}

// OverviewCountsForTest counts what Overview keeps, afresh with COUNT(*)
// over the tables at the store's now, for comparison.
func (s *Store) OverviewCountsForTest(ctx context.Context) (Overview, error) {
	now := s.Now()
	var o Overview
	db := s.r.WithContext(ctx)
	for _, q := range []struct {
		dst  *int64
		sql  string
		args []any
	}{
		{&o.ActiveAccess, "SELECT COUNT(*) FROM tokens WHERE type = ? AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > ?", []any{TokenTypeAccess, now}},
		{&o.ActiveRefresh, "SELECT COUNT(*) FROM tokens WHERE type = ? AND revoked_at IS NULL AND rotated_at IS NULL AND expires_at > ?", []any{TokenTypeRefresh, now}},
		{&o.ActiveGrants, "SELECT COUNT(*) FROM grants WHERE revoked_at IS NULL AND expires_at > ?", []any{now}},
		{&o.Clients, "SELECT COUNT(*) FROM clients", nil},
		{&o.Users, "SELECT COUNT(*) FROM users", nil},
		{&o.Revocations, "SELECT COUNT(*) FROM audit_events WHERE created_at >= ? AND action IN ? AND grants > 0", []any{now.Add(-24 * time.Hour), revocationActions}},
		{&o.RevokedTokens, "SELECT COALESCE(SUM(tokens), 0) FROM audit_events WHERE created_at >= ? AND action IN ? AND grants > 0", []any{now.Add(-24 * time.Hour), revocationActions}},
	} {
		if err := db.Raw(q.sql, q.args...).Scan(q.dst).Error; err != nil {
			return Overview{}, err
		}
	}
	return o, nil
}

// MarkGrantRevokedForTest sets a grant's revoked_at and nothing else, as a
// revocation that raced a refresh on PostgreSQL left it: the grant revoked,
// but tokens the refresh inserted meanwhile not.
func (s *Store) MarkGrantRevokedForTest(ctx context.Context, grantID int64) error {
	return s.w.WithContext(ctx).Exec("UPDATE grants SET revoked_at = ? WHERE id = ?", s.Now(), grantID).Error
}

// TokenGrantForTest is the lookup Revoke makes before its write.
func (s *Store) TokenGrantForTest(ctx context.Context, raw string) error {
	_, err := s.tokenGrant(ctx, raw)
	return err
}

// HoldWriterForTest holds every writer loop with a write that waits for
// release, and returns once they all run: writes queued meanwhile wait
// for release, then go in the next batches. holding is how many writes it
// holds (one commit each once released). Each is queued once the one
// before runs, so that each holds a loop of its own.
func (s *Store) HoldWriterForTest(ctx context.Context) (release func(), holding int) {
	holding = 1
	if s.dialect == DialectPostgres {
		holding = pgWriters
	}
	hold := make(chan struct{})
	for range holding {
		held := make(chan struct{})
		go func() {
			_ = s.write(ctx, func(*gorm.DB) error { close(held); <-hold; return nil })
		}()
		<-held
	}
	return sync.OnceFunc(func() { close(hold) }), holding
}

// QueuedWritesForTest is how many writes wait for the writer.
func (s *Store) QueuedWritesForTest() int { return len(s.batch.ops) }

// LastUseSlotsForTest is the size of the table of queued grants: grant ids
// that differ by it share a slot.
const LastUseSlotsForTest = lastUseSlots

// HeapKeptForTest reports whether the C heap's settings for SQLite were
// applied (keepFreedHeap).
func HeapKeptForTest() bool { return heapKept }

// ArenaCapForTest is the C heap's arena limit (arenaCap), 0 for none, and
// how many arenas there were when the package lowered it to GOMAXPROCS (0
// if it did not).
func ArenaCapForTest() (limit, whenLowered int) { return arenaCap(), arenasWhenLowered }

// MallocArenasForTest is how many arenas the C heap has, -1 where it
// cannot say: only glibc's malloc_info counts them.
func MallocArenasForTest() int { return mallocArenas() }
