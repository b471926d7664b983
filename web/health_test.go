package web_test

import (
	"database/sql"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
)

// readyz returns GET /readyz's status.
func (ts *testServer) readyz(t *testing.T) int {
	t.Helper()
	resp, err := ts.Client().Get(ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestReadyzNeedsAWrite checks that /readyz answers 503 while the database
// can be read but not written: another process holds SQLite's write lock,
// or (on PostgreSQL) the server has become read-only, as a promoted
// standby's old primary or default_transaction_read_only does. It used to
// check only a read, and said ready.
func TestReadyzNeedsAWrite(t *testing.T) {
	t.Parallel()
	ts := newTestServerWith(t, models.Options{BusyTimeout: 200 * time.Millisecond})
	if got := ts.readyz(t); got != 200 {
		t.Fatalf("/readyz on a healthy database: %d", got)
	}
	time.Sleep(1100 * time.Millisecond) // past the reuse of that success
	if modelstest.OnPostgres() {
		u, err := url.Parse(ts.db)
		if err != nil {
			t.Fatal(err)
		}
		admin, err := sql.Open("pgx", ts.db)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		name := strings.TrimPrefix(u.Path, "/")
		if _, err := admin.Exec("ALTER DATABASE " + name + " SET default_transaction_read_only = on"); err != nil {
			t.Fatal(err)
		}
		// Drop the server's sessions, as a failover does: they come back
		// read-only.
		if _, err := admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the first request may meet a dropped connection
			if got := ts.readyz(t); got != 503 {
				t.Errorf("/readyz on a read-only PostgreSQL: %d, want 503", got)
			}
		}
		if err := ts.st.Ping(t.Context()); err != nil {
			t.Errorf("reads still work: %v", err)
		}
		return
	}
	other, err := sql.Open("sqlite3", "file:"+ts.db+"?_busy_timeout=1000")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	if _, err := other.Exec("BEGIN IMMEDIATE"); err != nil {
		t.Fatalf("take the write lock: %v", err)
	}
	if got := ts.readyz(t); got != 503 {
		t.Errorf("/readyz while another process holds the write lock: %d, want 503", got)
	}
	if _, err := other.Exec("ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if got := ts.readyz(t); got != 200 {
		t.Errorf("/readyz once the lock is released: %d, want 200", got)
	}
}

// TestReadyzReadOnlyFile serves a SQLite file that cannot be written (a
// read-only volume): pages that only read still work, but /readyz is 503.
func TestReadyzReadOnlyFile(t *testing.T) {
	t.Parallel()
	modelstest.SkipOnPostgres(t)
	path := filepath.Join(t.TempDir(), "lk.db")
	modelstest.Open(t, path).Close()
	if os.Geteuid() == 0 {
		// Root ignores mode bits: make the file immutable instead.
		if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
			t.Skipf("cannot make a file read-only as root here (chattr +i needs CAP_LINUX_IMMUTABLE on ext4, xfs or btrfs): %v: %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("chattr", "-i", path).Run() })
	} else if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	st, err := models.Open(path, models.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ts := startServer(t, st, nil, web.Config{}, nil)
	if got := ts.readyz(t); got != 503 {
		t.Errorf("/readyz on a read-only database file: %d, want 503", got)
	}
	resp, err := ts.Client().Get(ts.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz: %d, want 200 (the process is alive)", resp.StatusCode)
	}
}
