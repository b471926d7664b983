package models

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"gorm.io/gorm"
)

// BulkIssue starts n password-style grants for user at client, each with an
// access and a refresh token, a thousand per transaction. It exists for
// load tests and benchmarks, which need many real tokens quickly; the token
// endpoint issues one grant at a time through IssueGrant.
func (s *Store) BulkIssue(ctx context.Context, client *Client, userID int64, n int) ([]*Issued, error) {
	out := make([]*Issued, 0, n)
	for len(out) < n {
		chunk := min(1000, n-len(out))
		var got []*Issued
		err := s.write(ctx, func(tx *gorm.DB) error {
			got = make([]*Issued, 0, chunk) // afresh on every run: the writer may run this twice
			for range chunk {
				iss, err := s.issueGrantTx(tx, StartGrant{Client: client, UserID: userID, GrantType: GrantPassword,
					Scope: client.Scope, WithRefresh: true}, s.Now())
				if err != nil {
					return err
				}
				got = append(got, iss)
			}
			return nil
		})
		if err != nil {
			return nil, wrapWrite("bulk issue", err)
		}
		out = append(out, got...)
	}
	return out, nil
}

// FillTokens adds n filler tokens to a SQLite database, for measuring how
// the hot paths scale with the table's size: n/2 grants of client, each
// with an access and a refresh token, created over the last 30 days and
// expiring over the next 30, a tenth revoked (with one audit event each).
// The rows are generated inside SQLite by recursive CTEs, a million tokens
// a transaction, and the overview's counts are rebuilt at the end. It is
// for benchmarks only: the tokens' hashes are random, so nobody holds them.
func (s *Store) FillTokens(ctx context.Context, client *Client, n int, progress func(done int)) error {
	if s.dialect != DialectSQLite {
		return fmt.Errorf("models: fill tokens: SQLite only")
	}
	now := s.Now().UTC()
	base := now.Add(-30 * 24 * time.Hour).Unix()
	// ts is (seconds after base) as the text the driver writes.
	ts := func(expr string) string {
		return fmt.Sprintf("(strftime('%%Y-%%m-%%d %%H:%%M:%%f', %d + (%s), 'unixepoch') || '+00:00')", base, expr)
	}
	grants := n / 2
	const chunk = 500_000
	for done := 0; done < grants; done += chunk {
		k := min(chunk, grants-done)
		// created spread over the 30 days by position; expires 30 days later.
		created := fmt.Sprintf("((n.i * 2592.0) / %d.0 * 1000)", max(grants, 1))
		err := s.write(ctx, func(tx *gorm.DB) error {
			var first int64
			if err := tx.Raw("SELECT COALESCE(MAX(id), 0) FROM grants").Scan(&first).Error; err != nil {
				return err
			}
			stmts := []string{
				`WITH RECURSIVE n(i) AS (SELECT ` + strconv.Itoa(done+1) + ` UNION ALL SELECT i + 1 FROM n WHERE i < ` + strconv.Itoa(done+k) + `)
				 INSERT INTO grants (id, public_id, client_id, user_id, grant_type, scope, created_at, expires_at, revoked_at)
				 SELECT ` + strconv.FormatInt(first, 10) + ` + n.i - ` + strconv.Itoa(done) + `, lower(hex(randomblob(16))), ?, NULL, 'client_credentials', ?,
				   ` + ts(created) + `, ` + ts(created+" + 2592000") + `, CASE WHEN n.i % 10 = 0 THEN ` + ts(created+" + 60") + ` END FROM n`,
				`INSERT INTO tokens (hash, type, hint, grant_id, client_id, user_id, scope, created_at, expires_at, revoked_at)
				 SELECT randomblob(32), CASE k.k WHEN 1 THEN 'access_token' ELSE 'refresh_token' END,
				   CASE k.k WHEN 1 THEN 'lk_at_' ELSE 'lk_rt_' END || substr(hex(randomblob(2)), 1, 4) || '…',
				   g.id, g.client_id, NULL, g.scope, g.created_at, g.expires_at, g.revoked_at
				 FROM grants g CROSS JOIN (SELECT 1 AS k UNION ALL SELECT 0) k WHERE g.id > ` + strconv.FormatInt(first, 10) + ` ORDER BY g.id, k.k DESC`,
				`INSERT INTO audit_events (created_at, actor_type, actor, action, grant_id, client_id, grants, tokens, reason)
				 SELECT revoked_at, 'staff', 'bench', 'grant.revoke', id, client_id, 1, 2, 'filler' FROM grants
				 WHERE id > ` + strconv.FormatInt(first, 10) + ` AND revoked_at IS NOT NULL ORDER BY id`,
			}
			for i, q := range stmts {
				var args []any
				if i == 0 {
					args = []any{client.ID, client.Scope}
				}
				if err := tx.Exec(q, args...).Error; err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return wrapWrite("fill tokens", err)
		}
		if progress != nil {
			progress(2 * (done + k))
		}
	}
	return s.RebuildCounts(ctx)
}
