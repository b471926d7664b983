package main

import (
	"bufio"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestServeMemoryLimit: serve runs under a soft memory limit of 24MiB
// unless --memory-limit or GOMEMLIMIT says otherwise, as the runtime itself
// reports it on /metrics; a bad size is one line and exit 2.
func TestServeMemoryLimit(t *testing.T) {
	bin := buildBinary(t, t.TempDir())
	for _, tc := range []struct {
		name       string
		gomemlimit string
		args       []string
		want       float64
	}{
		{"default", "", nil, 24 << 20},
		{"flag", "", []string{"--memory-limit", "64MiB"}, 64 << 20},
		{"GOMEMLIMIT", "100MiB", nil, 100 << 20},
		{"flag over GOMEMLIMIT", "100MiB", []string{"--memory-limit", "1GiB"}, 1 << 30},
		{"off", "100MiB", []string{"--memory-limit", "off"}, math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("GOMEMLIMIT", tc.gomemlimit)
			srv := startServer(t, bin, newCLI(t).db, tc.args...)
			if got := runtimeMemoryLimit(t, srv.url); got != tc.want {
				t.Errorf("go_gc_gomemlimit_bytes = %v, want %v", got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ env, flag string }{
		{"", "4MiB"},
		{"", "lots"},
		{"", "-1"},
		{"12 MiB", ""},
		{"9999999TiB", ""},
	} {
		c := newCLI(t)
		args := []string{"serve", "--addr", "127.0.0.1:0"}
		want := "LATCHKEY_MEMORY_LIMIT"
		if tc.flag != "" {
			args = append(args, "--memory-limit", tc.flag)
			want = "--memory-limit"
		} else {
			c.env["LATCHKEY_MEMORY_LIMIT"] = tc.env
		}
		wantOneLine(t, c.run("", args...), 2, want)
	}
}

// runtimeMemoryLimit reads the limit the server's Go runtime reports.
func runtimeMemoryLimit(t *testing.T, base string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_gc_gomemlimit_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("%s/metrics: no go_gc_gomemlimit_bytes (status %d)", base, resp.StatusCode)
	return 0
}

// TestDefaultMemoryLimitFollowsLiveHeap: the default limit rises to three
// times a live heap that outgrew it, and comes back down to 24 MiB.
func TestDefaultMemoryLimitFollowsLiveHeap(t *testing.T) {
	t.Parallel()
	var live atomic.Uint64
	live.Store(5 << 20)
	got := make(chan int64, 16)
	stop := followLiveHeap(time.Millisecond, func() (uint64, bool) { return live.Load(), true }, func(n int64) { got <- n })
	defer stop()
	want := func(n int64) {
		t.Helper()
		select {
		case l := <-got:
			if l != n {
				t.Fatalf("limit set to %d, want %d", l, n)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("limit not set to %d", n)
		}
	}
	live.Store(50 << 20)
	want(150 << 20)
	live.Store(6 << 20)
	want(24 << 20)
	if l := defaultLimitFor(math.MaxUint64); l <= 0 {
		t.Errorf("defaultLimitFor(max) = %d", l)
	}
}
