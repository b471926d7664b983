package models

import (
	"context"
	"strings"
	"testing"

	"gorm.io/gorm"
)

// TestUnpreparedHotStatementFailsUnderTest: on SQLite the writer's hot
// statements are prepared once; one that is not would silently run
// unprepared (and slowly) in production, so under test it is an error.
func TestUnpreparedHotStatementFailsUnderTest(t *testing.T) {
	t.Parallel()
	s := openPlanStore(t)
	if s.Dialect() != DialectSQLite {
		t.Skip("the statement cache is SQLite's")
	}
	err := s.write(context.Background(), func(tx *gorm.DB) error {
		_, err := s.exec(tx, "UPDATE users SET role = role WHERE id = ?", 1)
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "not prepared") {
		t.Fatalf("exec of an unprepared statement: got %v, want a not-prepared error", err)
	}
	// Every hot statement is prepared.
	err = s.write(context.Background(), func(tx *gorm.DB) error {
		_, err := s.exec(tx, qAuditCount, 0, 0)
		return err
	})
	if err != nil {
		t.Fatalf("a hot statement: %v", err)
	}
}
