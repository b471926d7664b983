package models

import (
	"context"
	"fmt"
)

// Counts is how many rows each table holds.
type Counts struct {
	Users, Clients, Grants, Tokens, Codes, AuditEvents, Sessions int64
	// Events are outbox rows; StreamEvents their deliveries, one per
	// stream that got the event.
	Events, StreamEvents int64
}

// TableCounts counts the rows of every table with COUNT(*), for tests: that
// a refused request wrote nothing, that a purge removed what it should. The
// dashboard does not use it; its overview counts live rows with Overview.
func (s *Store) TableCounts(ctx context.Context) (Counts, error) {
	var c Counts
	for _, t := range []struct {
		table string
		dst   *int64
	}{{"users", &c.Users}, {"clients", &c.Clients}, {"grants", &c.Grants}, {"tokens", &c.Tokens},
		{"codes", &c.Codes}, {"audit_events", &c.AuditEvents}, {"sessions", &c.Sessions},
		{"events", &c.Events}, {"stream_events", &c.StreamEvents}} {
		if err := s.r.WithContext(ctx).Raw("SELECT COUNT(*) FROM " + t.table).Scan(t.dst).Error; err != nil {
			return Counts{}, unavailable(fmt.Sprintf("count %s", t.table), err)
		}
	}
	return c, nil
}
