package models

import "context"

// ExecForTest runs a statement on the writer, for tests that set up a
// database as an older version left it.
func (s *Store) ExecForTest(ctx context.Context, q string, args ...any) error {
	return s.w.WithContext(ctx).Exec(q, args...).Error
}

// QActiveTokenForTest is the statement behind ActiveToken on SQLite, for
// its plan.
var QActiveTokenForTest = qActiveToken.sqlite
