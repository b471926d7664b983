package models_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestDatabaseFilesPrivate checks that a new SQLite database and its -wal
// and -shm files, which hold password hashes, are mode 0600 after Open and
// a write (they used to be 0644: readable by every local user).
func TestDatabaseFilesPrivate(t *testing.T) {
	t.Parallel()
	modelstest.SkipOnPostgres(t)
	path := filepath.Join(t.TempDir(), "lk.db")
	st := modelstest.Open(t, path)
	if _, err := st.CreateUser(context.Background(), "carol", models.RoleUser, modelstest.Password); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), m)
		}
	}
}

// TestExistingDatabaseFileMadePrivate opens a database file left 0644 by an
// older version: Open makes it 0600 and logs a warning naming the file.
func TestExistingDatabaseFileMadePrivate(t *testing.T) {
	t.Parallel()
	modelstest.SkipOnPostgres(t)
	path := filepath.Join(t.TempDir(), "lk.db")
	modelstest.Open(t, path).Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	st, err := models.Open(path, models.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Errorf("mode after Open: %v, want 0600", m)
	}
	if out := logs.String(); !strings.Contains(out, "level=WARN") || !strings.Contains(out, path) || !strings.Contains(out, "0600") {
		t.Errorf("want a warning naming the file; logs:\n%s", out)
	}
}

// TestReadyWhenFull makes the SQLite database full the way a full disk
// does for SQLite (max_page_count at the current size, so the next page
// cannot be allocated and writes fail with SQLITE_FULL): Ready must fail,
// where a read-only check said ready, and recover when space returns.
func TestReadyWhenFull(t *testing.T) {
	t.Parallel()
	modelstest.SkipOnPostgres(t)
	ctx := context.Background()
	st := modelstest.NewStore(t)
	if err := st.Ready(ctx); err != nil {
		t.Fatalf("Ready on a fresh database: %v", err)
	}
	// Migrations that rebuild a table leave its old pages free, and
	// SQLite would fill those before it needs a new one: reclaim them.
	if err := st.ExecForTest(ctx, "VACUUM"); err != nil {
		t.Fatal(err)
	}
	pages, err := st.WriterPragmaForTest("page_count")
	if err != nil {
		t.Fatal(err)
	}
	if free, _ := st.WriterPragmaForTest("freelist_count"); free != "0" {
		t.Fatalf("freelist_count = %s; the test needs a database with no free page", free)
	}
	if err := st.SetWriterPragmaForTest("max_page_count", pages); err != nil {
		t.Fatal(err)
	}
	err = st.Ready(ctx)
	if !errors.Is(err, models.ErrUnavailable) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("Ready on a full database: %v, want ErrUnavailable (database or disk is full)", err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("reads still work: %v", err)
	}
	n, _ := strconv.Atoi(pages)
	if err := st.SetWriterPragmaForTest("max_page_count", strconv.Itoa(n+100)); err != nil {
		t.Fatal(err)
	}
	if err := st.Ready(ctx); err != nil {
		t.Fatalf("Ready once there is room again: %v", err)
	}
}

// makeReadOnly makes path impossible to write for this process, and undoes
// it when the test ends. Tests run as root in CI, and root ignores mode
// bits, so as root the file is made immutable (chattr +i; it needs
// CAP_LINUX_IMMUTABLE and a file system with the attribute, such as ext4,
// xfs or btrfs). As anyone else, chmod 0444 is enough. The test is skipped,
// saying why, when neither works.
func makeReadOnly(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(path, 0o600) })
		return
	}
	if out, err := exec.Command("chattr", "+i", path).CombinedOutput(); err != nil {
		t.Skipf("cannot make a file read-only as root here (chattr +i: %v: %s)", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", path).Run() })
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
		f.Close()
		t.Skipf("chattr +i did not make %s read-only for root", path)
	}
}

// TestReadyReadOnlyFile opens a database file that cannot be written (as on
// a read-only volume): SQLite opens it read-only, reads work, and Ready
// must fail.
func TestReadyReadOnlyFile(t *testing.T) {
	t.Parallel()
	modelstest.SkipOnPostgres(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lk.db")
	modelstest.Open(t, path).Close()
	makeReadOnly(t, path)
	st, err := models.Open(path, models.Options{})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer st.Close()
	if err := st.Ping(ctx); err != nil {
		t.Fatalf("reads work on a read-only file: %v", err)
	}
	err = st.Ready(ctx)
	if !errors.Is(err, models.ErrUnavailable) || !strings.Contains(err.Error(), "readonly") {
		t.Fatalf("Ready on a read-only file: %v, want ErrUnavailable (readonly)", err)
	}
}
