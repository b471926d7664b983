// Package modelstest gives tests a real, migrated store — a SQLite file in a
// temporary directory, or a PostgreSQL database of their own — and
// fixtures that issue tokens through models the way the server does (never
// by inserting rows), so that tests hold the raw values and exercise
// hashing and prefixes.
//
// Three environment variables choose the database:
//
//   - LATCHKEY_TEST_BACKEND=postgres switches the whole suite to
//     PostgreSQL: NewStore (and so every test that uses it) returns a
//     PostgreSQL store, and SkipOnPostgres skips the tests about SQLite
//     itself. Unset (or anything else), NewStore returns SQLite.
//   - LATCHKEY_TEST_POSTGRES is the URL of the PostgreSQL server to use,
//     e.g. postgres://user:pw@127.0.0.1:5432/db?sslmode=disable.
//     NewPostgresStore creates a fresh database on it for each test and
//     drops it afterwards. It does not switch the backend by itself: it is
//     also what the PostgreSQL-only tests (replicas, advisory locks) and
//     the Backends() tables need. Unset, those tests skip.
//   - LATCHKEY_REQUIRE_POSTGRES=1 turns that skip into a failure, so that
//     CI cannot pass without PostgreSQL.
package modelstest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/latchkey/latchkey/models"
)

// NewStore returns a migrated store on a fresh SQLite file, or with
// LATCHKEY_TEST_BACKEND=postgres on a fresh PostgreSQL database (see
// NewPostgresStore), closed when the test ends.
func NewStore(t testing.TB) *models.Store {
	t.Helper()
	if OnPostgres() {
		st, _ := NewPostgresStore(t)
		return st
	}
	return Open(t, filepath.Join(t.TempDir(), "latchkey.db"))
}

// OnPostgres reports whether LATCHKEY_TEST_BACKEND=postgres asks for the
// whole suite to run on PostgreSQL (CI runs models and web twice: once on
// SQLite, once so). Tests of SQLite's own behaviour skip there.
func OnPostgres() bool { return os.Getenv("LATCHKEY_TEST_BACKEND") == "postgres" }

// SkipOnPostgres skips a test that is about SQLite itself.
func SkipOnPostgres(t testing.TB) {
	t.Helper()
	if OnPostgres() {
		t.Skip("tests SQLite itself; skipped when LATCHKEY_TEST_BACKEND=postgres")
	}
}

// Open returns a migrated store on dsn, closed when the test ends.
func Open(t testing.TB, dsn string) *models.Store {
	t.Helper()
	return OpenWith(t, dsn, models.Options{})
}

// PostgresDSN returns the test PostgreSQL URL, skipping the test when there
// is none — or failing it when LATCHKEY_REQUIRE_POSTGRES=1 (as in CI).
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("LATCHKEY_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("LATCHKEY_REQUIRE_POSTGRES") == "1" {
			t.Fatal("LATCHKEY_REQUIRE_POSTGRES=1 but LATCHKEY_TEST_POSTGRES is not set")
		}
		t.Skip("PostgreSQL tests skipped: set LATCHKEY_TEST_POSTGRES=postgres://… to run them")
	}
	return dsn
}

// Fixture is a small world: an admin, a user, a confidential and a public
// client, each with the raw secrets a real caller would hold.
type Fixture struct {
	Admin, Alice, Bob *models.User
	Confidential      *models.Client
	Secret            string
	Public            *models.Client
	Other             *models.Client
	OtherSecret       string
}

// Password is every fixture user's password.
const Password = "correct horse battery"

// NewFixture creates the fixture's users and clients in st.
func NewFixture(t testing.TB, st *models.Store) *Fixture {
	t.Helper()
	ctx := context.Background()
	f := &Fixture{}
	var err error
	mk := func(name string, role models.Role) *models.User {
		u, err := st.CreateUser(ctx, name, role, Password)
		if err != nil {
			t.Fatalf("create user %s: %v", name, err)
		}
		return u
	}
	f.Admin, f.Alice, f.Bob = mk("admin", models.RoleAdmin), mk("alice", models.RoleUser), mk("bob", models.RoleUser)
	all := []models.GrantType{models.GrantAuthorizationCode, models.GrantRefreshToken, models.GrantClientCredentials, models.GrantPassword}
	cc, err := st.CreateClient(ctx, models.NewClient{Name: "Confidential App", Type: models.ClientConfidential, GrantTypes: all,
		RedirectURIs: []string{"http://127.0.0.1:9999/callback"}, AllowedOrigins: []string{"https://app.example.com"}})
	if err != nil {
		t.Fatalf("create client: %v", err)
	}
	f.Confidential, f.Secret = cc.Client, cc.Secret
	pc, err := st.CreateClient(ctx, models.NewClient{Name: "Public App", Type: models.ClientPublic,
		GrantTypes:   []models.GrantType{models.GrantAuthorizationCode, models.GrantRefreshToken, models.GrantPassword},
		RedirectURIs: []string{"http://127.0.0.1:9999/callback"}})
	if err != nil {
		t.Fatalf("create public client: %v", err)
	}
	f.Public = pc.Client
	oc, err := st.CreateClient(ctx, models.NewClient{Name: "Other App", Type: models.ClientConfidential, GrantTypes: all,
		RedirectURIs: []string{"http://127.0.0.1:9999/other"}})
	if err != nil {
		t.Fatalf("create other client: %v", err)
	}
	f.Other, f.OtherSecret = oc.Client, oc.Secret
	return f
}

// IssuePassword starts a password grant for user at client, with a refresh
// token, as the token endpoint does.
func IssuePassword(t testing.TB, st *models.Store, c *models.Client, u *models.User) *models.Issued {
	t.Helper()
	iss, err := st.IssueGrant(context.Background(), models.StartGrant{
		Client: c, UserID: u.ID, GrantType: models.GrantPassword, Scope: c.Scope, WithRefresh: true,
	})
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	return iss
}

// Clock is a test clock that moves only when told to. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's reading.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// NewStoreWithClock is NewStore with the store's clock set to now, so that a
// test can make things old: set the clock in the past, issue, move it on.
func NewStoreWithClock(t testing.TB, now func() time.Time) *models.Store {
	t.Helper()
	if OnPostgres() {
		return OpenWith(t, newPostgresDatabase(t), models.Options{Now: now})
	}
	return OpenWith(t, filepath.Join(t.TempDir(), "latchkey.db"), models.Options{Now: now})
}

// OpenWith returns a migrated store on dsn with opts, closed when the test
// ends.
func OpenWith(t testing.TB, dsn string, opts models.Options) *models.Store {
	t.Helper()
	models.UseFastPasswordHashForTests()
	st, err := models.Open(dsn, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return st
}

// NewPostgresStore returns a migrated store on a fresh PostgreSQL database
// created for this test (and dropped after it), on the server named by
// LATCHKEY_TEST_POSTGRES. It skips the test when that is unset, or fails it
// when LATCHKEY_REQUIRE_POSTGRES=1.
func NewPostgresStore(t testing.TB) (*models.Store, string) {
	t.Helper()
	dsn := newPostgresDatabase(t)
	return Open(t, dsn), dsn
}

// newPostgresDatabase creates a database for this test, dropped after it,
// and returns its URL.
func newPostgresDatabase(t testing.TB) string {
	t.Helper()
	base := PostgresDSN(t)
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	t.Cleanup(func() { admin.Close() })
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "lk_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("postgres: create database: %v", err)
	}
	t.Cleanup(func() { _, _ = admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}

// Backend is a way to get a fresh store, for tests that run on both
// databases.
type Backend struct {
	Name string
	New  func(t testing.TB) *models.Store
}

// Backends returns SQLite and PostgreSQL; the PostgreSQL one skips (or
// fails, in CI) when no server is configured.
func Backends() []Backend {
	return []Backend{
		{"sqlite", NewStore},
		{"postgres", func(t testing.TB) *models.Store { st, _ := NewPostgresStore(t); return st }},
	}
}

// NewPostgresStoreWith is NewPostgresStore opened with opts.
func NewPostgresStoreWith(t testing.TB, opts models.Options) (*models.Store, string) {
	t.Helper()
	dsn := newPostgresDatabase(t)
	return OpenWith(t, dsn, opts), dsn
}
