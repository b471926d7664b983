package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTerminalFd: only a terminal is read without echo. A pipe, a file, or
// /dev/null (a character device, which the old check took for a terminal)
// is read as one line.
func TestTerminalFd(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	file, err := os.Create(filepath.Join(t.TempDir(), "password.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for name, in := range map[string]io.Reader{"pipe": r, "file": file, "/dev/null": null, "reader": strings.NewReader("x\n")} {
		if _, ok := terminalFd(in); ok {
			t.Errorf("%s: got a terminal, want none", name)
		}
	}
}

// TestUserCreateFromPipe: from a real pipe the password is the first line,
// and nothing is prompted.
func TestUserCreateFromPipe(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := w.WriteString("correct horse battery\nsomething else\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--db", c.db, "user", "create", "--username", "alice", "--role", "user"}, r, &out, &errb,
		func(string) string { return "" })
	if code != 0 || errb.String() != "" || out.String() != "created user alice (user)\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
	if _, err := c.store().Authenticate(context.Background(), "alice", "correct horse battery"); err != nil {
		t.Errorf("log in with the first line: %v", err)
	}
}
