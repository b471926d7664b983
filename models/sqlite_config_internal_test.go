package models

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestSQLiteRunsWithoutItsMutexes: every SQLite connection the store opens
// (the writer, the reader pool, the kept hot readers, the checkpointer)
// is in SQLite's multi-thread mode, without a mutex of its own, and
// SQLite keeps no memory statistics (see sqlite_config.go). A connection
// opened without _mutex=no has its mutex, so the check can tell.
func TestSQLiteRunsWithoutItsMutexes(t *testing.T) {
	ctx := context.Background()
	st := openPlanStore(t)
	// Some work first, on the writer and a reader.
	if _, err := st.CreateUser(ctx, "alice", RoleUser, "a long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ActiveToken(ctx, "lk_at_nobody"); err == nil {
		t.Fatal("an unknown token was found")
	}

	mutexOf := func(t *testing.T, name string, db *sql.DB) bool {
		t.Helper()
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer conn.Close()
		var has bool
		if err := conn.Raw(func(dc any) (err error) { has, err = sqliteConnHasMutex(dc); return err }); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return has
	}
	for name, db := range map[string]*sql.DB{"writer": st.wdb, "reader pool": st.rdb, "checkpointer": st.ckpt.db} {
		if mutexOf(t, name, db) {
			t.Errorf("the %s's connection has its own mutex (serialized mode)", name)
		}
	}
	r := <-st.hot.ch
	var has bool
	err := r.conn.Raw(func(dc any) (err error) { has, err = sqliteConnHasMutex(dc); return err })
	st.hot.ch <- r
	if err != nil {
		t.Fatal(err)
	}
	if has {
		t.Error("a hot reader's connection has its own mutex (serialized mode)")
	}

	plain, err := sql.Open(sqliteDriver, "file:"+filepath.Join(t.TempDir(), "plain.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if !mutexOf(t, "a connection in SQLite's default mode", plain) {
		t.Error("a connection opened without _mutex=no shows no mutex: the check cannot tell")
	}

	if !sqliteStatsOff {
		t.Error("SQLite's memory statistics were not turned off (SQLite initialized before this package?)")
	}
	if n := sqliteMemoryUsed(); n != 0 {
		t.Errorf("sqlite3_memory_used = %d with connections open, want 0 (statistics off)", n)
	}
}
