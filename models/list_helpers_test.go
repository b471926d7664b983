package models

import (
	"context"
	"path/filepath"
	"testing"
)

// openPlanStore is a migrated store on a temporary SQLite file, for tests
// inside the package (modelstest imports models, so it cannot be used here).
func openPlanStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "plan.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}
