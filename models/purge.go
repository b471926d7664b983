package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// purgeBatch is how many rows one purge transaction deletes. Small batches
// keep each hold on SQLite's single write lock to a few milliseconds, so a
// purge of a million rows never stalls a revocation.
const purgeBatch = 500

// PurgeResult reports what PurgeTokens deleted.
type PurgeResult struct {
	Before      time.Time // rows dead before this instant were deleted
	Tokens      int
	Codes       int
	Sessions    int
	SetupTokens int
}

// PurgeTokens deletes what can no longer be used and has been dead for
// longer than olderThan: tokens that expired or were revoked before
// now-olderThan, authorization codes, browser sessions and setup links
// likewise. Grants and audit events stay, so the revocation history keeps
// every event and the grants the events name.
//
// A refresh token rotated away is kept until it expires, however long ago
// it was rotated: presenting it again is how refresh-token reuse is detected
// (RFC 9700 §4.14.2), and a purged one would merely be unknown. An access
// token rotated away is dead for good and goes once it was rotated before
// the cutoff.
//
// Rows go in batches of purgeBatch, each in its own short transaction.
func (s *Store) PurgeTokens(ctx context.Context, olderThan time.Duration) (PurgeResult, error) {
	if olderThan < 0 {
		return PurgeResult{}, fmt.Errorf("%w: the age must not be negative", ErrInvalid)
	}
	cutoff := s.Now().Add(-olderThan)
	res := PurgeResult{Before: cutoff}
	steps := []struct {
		table string
		where string
		args  []any
		n     *int
	}{
		{"tokens", "expires_at < ? OR revoked_at < ? OR (rotated_at < ? AND type = ?)",
			[]any{cutoff, cutoff, cutoff, TokenTypeAccess}, &res.Tokens},
		// A used code is kept until it expires too: presenting it again
		// revokes its grant (RFC 6749 §4.1.2).
		{"codes", "expires_at < ?", []any{cutoff}, &res.Codes},
		{"sessions", "expires_at < ?", []any{cutoff}, &res.Sessions},
		{"setup_tokens", "expires_at < ? OR used_at < ?", []any{cutoff, cutoff}, &res.SetupTokens},
	}
	for _, st := range steps {
		// The subquery picks one batch; DELETE … WHERE id IN (SELECT … LIMIT)
		// works on SQLite and PostgreSQL alike.
		q := "DELETE FROM " + st.table + " WHERE id IN (SELECT id FROM " + st.table + " WHERE " + st.where + " LIMIT " + fmt.Sprint(purgeBatch) + ")"
		for {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			var n int64
			err := s.write(ctx, func(tx *gorm.DB) error {
				r := tx.Exec(q, st.args...)
				n = r.RowsAffected
				return r.Error
			})
			if err != nil {
				return res, wrapWrite("purge "+st.table, err)
			}
			*st.n += int(n)
			if n < purgeBatch {
				break
			}
		}
	}
	return res, nil
}
