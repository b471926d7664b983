package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestServeRefusesReadOnlyDatabase runs serve on a SQLite file that cannot
// be written, as on a read-only volume: it must exit 1 with one line on
// stderr, not start serving pages whose every login and token would fail.
// Tests run as root in CI and root ignores mode bits, so as root the file
// is made immutable with chattr +i (CAP_LINUX_IMMUTABLE on ext4, xfs or
// btrfs); the test skips, saying so, where that is not possible.
func TestServeRefusesReadOnlyDatabase(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	st := c.store()
	// An admin exists, so serve itself has nothing to write at startup.
	if _, err := st.CreateUser(context.Background(), "root", models.RoleAdmin, modelstest.Password); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if os.Geteuid() == 0 {
		if out, err := exec.Command("chattr", "+i", c.db).CombinedOutput(); err != nil {
			t.Skipf("cannot make a file read-only as root here (chattr +i: %v: %s)", err, strings.TrimSpace(string(out)))
		}
		t.Cleanup(func() { _ = exec.Command("chattr", "-i", c.db).Run() })
	} else if err := os.Chmod(c.db, 0o444); err != nil {
		t.Fatal(err)
	}
	r := c.run("", "serve", "--addr", "127.0.0.1:0")
	wantOneLine(t, r, 1, "readonly")
	if !strings.Contains(r.stderr, "refusing to start") {
		t.Errorf("stderr %q: want it to say it refuses to start", r.stderr)
	}
}
