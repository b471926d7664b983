package models

import (
	"context"
	"fmt"
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
