package models

import (
	"context"

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
