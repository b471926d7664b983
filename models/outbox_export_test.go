package models

import (
	"context"
	"strings"
)

// ExecSchemaForTest runs statements separated by semicolons, written with
// the migrations' placeholders ({{pk}}, {{ts}}), on the writer: for tests
// that set up a database as an older version left it.
func (s *Store) ExecSchemaForTest(ctx context.Context, sql string) error {
	for stmt := range strings.SplitSeq(s.expand(sql), ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if err := s.w.WithContext(ctx).Exec(stmt).Error; err != nil {
			return err
		}
	}
	return nil
}

// ExecArgsForTest runs one statement with arguments on the writer.
func (s *Store) ExecArgsForTest(ctx context.Context, q string, args ...any) error {
	return s.w.WithContext(ctx).Exec(q, args...).Error
}
