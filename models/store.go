package models

import (
	"context"
	"fmt"
)

// Counts is how many rows each table holds.
type Counts struct {
	Users, Clients, Grants, Tokens, Codes, AuditEvents, Sessions int64
}

// TableCounts counts the rows of every table (tests check that a refused
// request wrote nothing; the dashboard shows totals).
func (s *Store) TableCounts(ctx context.Context) (Counts, error) {
	var c Counts
	for _, t := range []struct {
		table string
		dst   *int64
	}{{"users", &c.Users}, {"clients", &c.Clients}, {"grants", &c.Grants}, {"tokens", &c.Tokens},
		{"codes", &c.Codes}, {"audit_events", &c.AuditEvents}, {"sessions", &c.Sessions}} {
		if err := s.r.WithContext(ctx).Raw("SELECT COUNT(*) FROM " + t.table).Scan(t.dst).Error; err != nil {
			return Counts{}, unavailable(fmt.Sprintf("count %s", t.table), err)
		}
	}
	return c, nil
}
