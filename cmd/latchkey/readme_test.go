package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestReadmeWalkthrough runs README.md's five-minute walk-through, as
// written, against `latchkey serve` started the way the README says (on a
// free port and a temp database instead of 8000 and ./latchkey.db), and
// checks that it leaves no file behind.
func TestReadmeWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	for _, tool := range []string{"bash", "curl", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the walk-through needs %s, which is not installed", tool)
		}
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	script := walkthroughBlock(t, string(readme))

	dir := t.TempDir()
	bin := filepath.Join(dir, "latchkey")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db := filepath.Join(dir, "latchkey.db")
	srv := exec.CommandContext(ctx, bin, "serve", "--demo", "--db", db, "--addr", "127.0.0.1:0")
	stdout, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	base := ""
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Latchkey listening on "); ok {
			base = strings.TrimSpace(rest)
			break
		}
	}
	if base == "" {
		t.Fatal("serve never said where it listens")
	}
	go func() {
		for sc.Scan() {
		}
	}()

	script = strings.ReplaceAll(script, "go run ./cmd/latchkey", bin)
	script = strings.ReplaceAll(script, "http://127.0.0.1:8000", base)
	script = strings.ReplaceAll(script, "http://localhost:8000", base)
	// The block runs `latchkey` as installed: the built binary is first on
	// PATH. Its temporary files go to a TMPDIR of the test's own.
	tmp := t.TempDir()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LATCHKEY_DB="+db, "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("walk-through failed: %v\n%s", err, out)
	}
	// Nothing is left in the working directory (client.json holds a
	// secret), nor in the temporary one.
	for d, allowed := range map[string][]string{dir: {"latchkey", "latchkey.db", "latchkey.db-wal", "latchkey.db-shm"}, tmp: nil} {
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !slices.Contains(allowed, e.Name()) {
				t.Errorf("the walk-through left %s in %s", e.Name(), d)
			}
		}
	}
	got := string(out)
	for _, want := range []string{`"token_type":"Bearer"`, `"user":null`, `"scope":"read write"`, "HTTP/1.1 401 Unauthorized"} {
		if !strings.Contains(got, want) {
			t.Errorf("walk-through output lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "lk_at_") != 1 {
		t.Errorf("the access token should appear once (from cat token.json):\n%s", got)
	}
}

// walkthroughBlock returns the first sh block under the walk-through heading.
func walkthroughBlock(t *testing.T, readme string) string {
	t.Helper()
	_, after, ok := strings.Cut(readme, "## Five-minute walk-through")
	if !ok {
		t.Fatal("README has no walk-through section")
	}
	m := regexp.MustCompile("(?s)```sh\n(.*?)```").FindStringSubmatch(after)
	if m == nil {
		t.Fatal("the walk-through has no sh block")
	}
	return m[1]
}
