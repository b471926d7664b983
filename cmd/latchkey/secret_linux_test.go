package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair with plain ioctls (no third-party
// pty package): the test types on master, and the command reads slave as
// its stdin, as it would read a person's terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	var n uint32
	var ioErr error
	rc, err := m.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(fd uintptr) {
		var unlock int32
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
			ioErr = e
			return
		}
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
			ioErr = e
		}
	}); err != nil || ioErr != nil {
		t.Skipf("no pseudo-terminal: %v %v", err, ioErr)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// echoing reports whether the terminal echoes what is typed.
func echoing(t *testing.T, tty *os.File) bool {
	t.Helper()
	var tio syscall.Termios
	var ioErr error
	rc, err := tty.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Control(func(fd uintptr) {
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TCGETS, uintptr(unsafe.Pointer(&tio))); e != 0 {
			ioErr = e
		}
	}); err != nil || ioErr != nil {
		t.Fatalf("TCGETS: %v %v", err, ioErr)
	}
	return tio.Lflag&syscall.ECHO != 0
}

// terminalSession runs `latchkey user create` with a pseudo-terminal as
// stdin and types each line once the command waits for it, unseen.
type terminalSession struct {
	t             *testing.T
	master, slave *os.File
	stderr        syncBuffer
	done          chan int
	cancel        context.CancelFunc
}

func startOnTerminal(t *testing.T, c *cli, args ...string) *terminalSession {
	t.Helper()
	s := &terminalSession{t: t, done: make(chan int, 1)}
	s.master, s.slave = openPTY(t)
	if _, ok := terminalFd(s.slave); !ok {
		t.Fatal("terminalFd: a pseudo-terminal is a terminal")
	}
	if !echoing(t, s.slave) {
		t.Fatal("a new terminal should echo")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	t.Cleanup(cancel)
	go func() {
		var out syncBuffer
		s.done <- run(ctx, append([]string{"--db", c.db}, args...), s.slave, &out, &s.stderr, func(string) string { return "" })
	}()
	return s
}

// waitPrompt waits until stderr has shown prompt number n and the
// terminal has stopped echoing.
func (s *terminalSession) waitPrompt(n int, prompt string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second) // generous: CI runs with -race on a shared machine
	for strings.Count(s.stderr.String(), prompt) < n || echoing(s.t, s.slave) {
		if time.Now().After(deadline) {
			s.t.Fatalf("no prompt %q with echo off after 60s; stderr %q", prompt, s.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *terminalSession) typeLine(line string) {
	s.t.Helper()
	if _, err := s.master.WriteString(line + "\n"); err != nil {
		s.t.Fatal(err)
	}
}

func (s *terminalSession) exit() int {
	s.t.Helper()
	select {
	case code := <-s.done:
		return code
	case <-time.After(60 * time.Second):
		s.t.Fatal("the command did not finish")
		return 0
	}
}

// screen returns what the terminal displayed (its echo).
func (s *terminalSession) screen() string {
	s.t.Helper()
	if err := s.master.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		s.t.Fatalf("master: %v", err)
	}
	buf := make([]byte, 4096)
	n, _ := s.master.Read(buf)
	return string(buf[:n])
}

func TestUserCreateOnTerminal(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	const pw = "correct horse battery"
	s := startOnTerminal(t, c, "user", "create", "--username", "alice", "--role", "admin")
	s.waitPrompt(1, "Password for alice (not shown): ")
	s.typeLine(pw)
	s.waitPrompt(1, "The same password again: ")
	s.typeLine(pw)
	if code := s.exit(); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, s.stderr.String())
	}
	if shown := s.screen(); strings.Contains(shown, "horse") {
		t.Errorf("the terminal showed the password: %q", shown)
	}
	if strings.Contains(s.stderr.String(), "horse") {
		t.Errorf("stderr shows the password: %q", s.stderr.String())
	}
	if !echoing(t, s.slave) {
		t.Error("the terminal's echo was not restored")
	}
	if _, err := c.store().Authenticate(context.Background(), "alice", pw); err != nil {
		t.Errorf("log in with the typed password: %v", err)
	}
}

func TestUserCreateOnTerminalMismatch(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	s := startOnTerminal(t, c, "user", "create", "--username", "alice", "--role", "admin")
	s.waitPrompt(1, "Password for alice (not shown): ")
	s.typeLine("correct horse battery")
	s.waitPrompt(1, "The same password again: ")
	s.typeLine("correct horse batery")
	if code := s.exit(); code != 2 {
		t.Errorf("exit: got %d, want 2", code)
	}
	if lines := strings.Split(s.stderr.String(), "\n"); !strings.HasPrefix(lines[len(lines)-2], "latchkey: the two passwords differ") {
		t.Errorf("stderr: got %q", s.stderr.String())
	}
	if _, err := c.store().UserByUsername(context.Background(), "alice"); err == nil {
		t.Error("a user was created")
	}
}

// TestInterruptedOnTerminal: Ctrl-C at the prompt gives the terminal its
// echo back, rather than leaving the shell blind.
func TestInterruptedOnTerminal(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	s := startOnTerminal(t, c, "revoke", "--token", "-")
	s.waitPrompt(1, "Token to revoke (not shown): ")
	s.cancel() // what SIGINT does
	if code := s.exit(); code != 1 || !strings.HasSuffix(s.stderr.String(), "latchkey: interrupted\n") {
		t.Errorf("exit %d, stderr %q; want 1 and interrupted", code, s.stderr.String())
	}
	if !echoing(t, s.slave) {
		t.Error("the terminal's echo was not restored")
	}
}
