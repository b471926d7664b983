package main

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
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

// TestServePprofRestoresProfileRates: once the profiles' listener is
// closed, the mutex and block profiles are off again, as before it was
// opened: serve run in-process (as by tests) leaves no sampling cost behind.
// Not parallel: it reads process-wide profile settings.
func TestServePprofRestoresProfileRates(t *testing.T) {
	before := runtime.SetMutexProfileFraction(-1)
	stop, err := servePprof("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if got := runtime.SetMutexProfileFraction(-1); got != 100 {
		t.Fatalf("mutex profile fraction while serving = %d, want 100", got)
	}
	stop()
	if got := runtime.SetMutexProfileFraction(-1); got != before {
		t.Errorf("mutex profile fraction after stop = %d, want %d", got, before)
	}
	// Blocking for far longer than any sampling rate is recorded whenever
	// the block profile is on.
	n := pprof.Lookup("block").Count()
	ch := make(chan struct{})
	time.AfterFunc(5*time.Millisecond, func() { close(ch) })
	<-ch
	if got := pprof.Lookup("block").Count(); got != n {
		t.Errorf("block profile records after stop: %d, was %d: still on", got, n)
	}
}
