package main

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestServeAddressInUse: a port already taken is one line that names
// --addr, exit 1.
func TestServeAddressInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c := newCLI(t)
	c.ok("", "migrate") // so that serve logs nothing before it listens
	r := c.run("", "serve", "--addr", ln.Addr().String())
	wantOneLine(t, r, 1, ln.Addr().String()+" is already in use")
	if !strings.Contains(r.stderr, "--addr") {
		t.Errorf("stderr %q: want it to name --addr", r.stderr)
	}
}

func TestListenError(t *testing.T) {
	t.Parallel()
	inUse := &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EADDRINUSE)}
	if got := listenError("127.0.0.1:8000", inUse).Error(); !strings.Contains(got, "Django's runserver") || !strings.Contains(got, "--addr") {
		t.Errorf("port 8000: got %q", got)
	}
	if got := listenError("127.0.0.1:9000", inUse).Error(); strings.Contains(got, "Django") || !strings.Contains(got, "--addr") {
		t.Errorf("port 9000: got %q", got)
	}
	other := &net.OpError{Op: "listen", Net: "tcp", Err: os.NewSyscallError("bind", syscall.EADDRNOTAVAIL)}
	if got := listenError("10.255.255.1:8000", other); !strings.Contains(got.Error(), "--addr") || !errors.Is(got, syscall.EADDRNOTAVAIL) {
		t.Errorf("other error: got %q", got)
	}
}
