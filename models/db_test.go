package models_test

import (
	"testing"

	"github.com/latchkey/latchkey/models/modelstest"
)

// TestSQLiteDurability checks the settings that make a 200 mean the write is
// on disk (a revocation answered survives a crash): WAL mode
// with synchronous=FULL (2), so a commit is fsynced before Revoke returns,
// plus foreign keys and a busy timeout.
func TestSQLiteDurability(t *testing.T) {
	t.Parallel()
	modelstest.SkipOnPostgres(t)
	st := modelstest.NewStore(t)
	for pragma, want := range map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "5000"} {
		got, err := st.WriterPragmaForTest(pragma)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s: got %s, want %s", pragma, got, want)
		}
	}
}
