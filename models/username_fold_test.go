package models_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestUsernamesIgnoreCase: "Alice", "ALICE" and "alice" are one account —
// for creation, login, lookup and the user list's prefix filter — and only
// ASCII letters fold.
func TestUsernamesIgnoreCase(t *testing.T) {
	t.Parallel()
	for _, be := range modelstest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			t.Parallel()
			st := be.New(t)
			ctx := context.Background()
			u, err := st.CreateUser(ctx, "Alice", models.RoleUser, modelstest.Password)
			if err != nil {
				t.Fatal(err)
			}
			if u.Username != "alice" {
				t.Errorf("stored username: got %q, want alice", u.Username)
			}
			for _, name := range []string{"alice", "ALICE", "aLiCe"} {
				if _, err := st.CreateUser(ctx, name, models.RoleUser, modelstest.Password); !errors.Is(err, models.ErrAlreadyExists) {
					t.Errorf("create %q beside alice: got %v, want ErrAlreadyExists", name, err)
				}
				if got, err := st.Authenticate(ctx, name, modelstest.Password); err != nil || got.ID != u.ID {
					t.Errorf("log in as %q: got %v, want alice (id %d)", name, err, u.ID)
				}
				if got, err := st.UserByUsername(ctx, name); err != nil || got.ID != u.ID {
					t.Errorf("look up %q: got %v, want alice (id %d)", name, err, u.ID)
				}
			}
			if _, err := st.Authenticate(ctx, "ALICE", "wrong password"); !errors.Is(err, models.ErrBadLogin) {
				t.Errorf("a wrong password in another case: got %v, want ErrBadLogin", err)
			}
			// U+212A KELVIN SIGN lower-cases to "k" in Unicode; it must not
			// reach the ASCII account "karl".
			if _, err := st.CreateUser(ctx, "karl", models.RoleUser, modelstest.Password); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Authenticate(ctx, "\u212Aarl", modelstest.Password); !errors.Is(err, models.ErrBadLogin) {
				t.Errorf("log in with a Kelvin sign: got %v, want ErrBadLogin", err)
			}
			page, err := st.ListUsers(ctx, models.UserFilter{Prefix: "AL"}, models.Cursor{}, 10)
			if err != nil || len(page.Rows) != 1 || page.Rows[0].ID != u.ID {
				t.Errorf("prefix AL: got %+v %v, want alice", page.Rows, err)
			}
		})
	}
}

// TestMigrationFoldsUsernames runs migration 4 on a database that holds
// names in mixed case, as databases created before it do: names are
// folded; two users that differ only in case stop the migration with a
// message naming both, and nothing changes until one is renamed.
func TestMigrationFoldsUsernames(t *testing.T) {
	t.Parallel()
	for _, be := range []struct {
		name string
		open func(t *testing.T) (*models.Store, *sql.DB, func(string) string)
	}{
		{"sqlite", func(t *testing.T) (*models.Store, *sql.DB, func(string) string) {
			path := filepath.Join(t.TempDir(), "latchkey.db")
			st := modelstest.Open(t, path)
			return st, rawDB(t, "sqlite3", "file:"+path+"?_busy_timeout=5000"), func(q string) string { return q }
		}},
		{"postgres", func(t *testing.T) (*models.Store, *sql.DB, func(string) string) {
			st, dsn := modelstest.NewPostgresStore(t)
			return st, rawDB(t, "pgx", dsn), dollars
		}},
	} {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			st, db, q := be.open(t)
			ctx := context.Background()
			exec := func(query string, args ...any) {
				t.Helper()
				if _, err := db.Exec(q(query), args...); err != nil {
					t.Fatalf("%s: %v", query, err)
				}
			}
			// Rows as an older Latchkey wrote them, and migration 4 not yet
			// applied.
			id := map[string]int64{}
			for _, name := range []string{"Bob", "Alice", "alice", "carl+ops"} {
				exec("INSERT INTO users (username, password_hash, role, created_at) VALUES (?, 'x', 'user', CURRENT_TIMESTAMP)", name)
				var n int64
				if err := db.QueryRow(q("SELECT id FROM users WHERE username = ?"), name).Scan(&n); err != nil {
					t.Fatal(err)
				}
				id[name] = n
			}
			exec("DELETE FROM schema_migrations WHERE version = 4")

			_, err := st.Migrate(ctx)
			want := fmt.Sprintf(`"Alice" (id %d), "alice" (id %d) differ only in case`, id["Alice"], id["alice"])
			if err == nil || !strings.Contains(err.Error(), "migration 4") || !strings.Contains(err.Error(), want) {
				t.Fatalf("migrate with Alice and alice: got %v, want an error naming both (%s)", err, want)
			}
			var applied int
			if err := db.QueryRow("SELECT COUNT(*) FROM schema_migrations WHERE version = 4").Scan(&applied); err != nil || applied != 0 {
				t.Errorf("migration 4 recorded after failing: %d %v", applied, err)
			}
			if u, err := st.UserByID(ctx, id["Bob"]); err != nil || u.Username != "Bob" {
				t.Errorf("after a failed migration, Bob: got %v, want unchanged", err)
			}

			exec("UPDATE users SET username = 'alice-old' WHERE id = ?", id["Alice"])
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatalf("migrate after the rename: %v", err)
			}
			for name, want := range map[string]string{"Bob": "bob", "Alice": "alice-old", "alice": "alice", "carl+ops": "carl+ops"} {
				if u, err := st.UserByID(ctx, id[name]); err != nil || u.Username != want {
					t.Errorf("user %d (%s): got %v, want %q", id[name], name, err, want)
				}
			}
			if u, err := st.UserByUsername(ctx, "BOB"); err != nil || u.ID != id["Bob"] {
				t.Errorf("BOB after the migration: got %v, want user %d", err, id["Bob"])
			}
		})
	}
}

func rawDB(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// dollars rewrites ? placeholders as PostgreSQL's $1, $2, ….
func dollars(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
