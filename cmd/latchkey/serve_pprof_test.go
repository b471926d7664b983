package main

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestServeDebugPprof: the hidden --debug-pprof-addr serves Go's profiles
// on a loopback address beside the server, and refuses any other address
// with one line and exit 2.
func TestServeDebugPprof(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newCLI(t)
	serveInBackground(t, c, "--debug-pprof-addr", addr)
	var body string
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get("http://" + addr + "/debug/pprof/")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				body = string(b)
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no profile index at %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(body, "goroutine") {
		t.Errorf("profile index: %.200q", body)
	}
	refused := newCLI(t)
	wantOneLine(t, refused.run("", "serve", "--addr", "127.0.0.1:0", "--debug-pprof-addr", "0.0.0.0:6060"), 2, "loopback")
	if _, err := os.Stat(refused.db); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused serve touched the database: %v", err)
	}
}
