package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowWriter is a stderr that takes its time over every write, like a
// terminal or a log collector that falls behind; until open is closed it
// does not answer at all.
type slowWriter struct {
	open  chan struct{}
	delay time.Duration
	mu    sync.Mutex
	buf   bytes.Buffer
}

func newSlowWriter(delay time.Duration, stalled bool) *slowWriter {
	w := &slowWriter{open: make(chan struct{}), delay: delay}
	if !stalled {
		close(w.open)
	}
	return w
}

func (w *slowWriter) Write(p []byte) (int, error) {
	<-w.open
	time.Sleep(w.delay)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *slowWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// startServe runs serve on a free port with stderr, and returns its base
// URL and a function that stops it as SIGINT would and returns its exit
// code.
func startServe(t *testing.T, c *cli, stderr *slowWriter) (string, func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		args := []string{"--db", c.db, "serve", "--addr", "127.0.0.1:0"}
		done <- run(ctx, args, strings.NewReader(""), &out, stderr, func(k string) string { return c.env[k] })
	}()
	listening := regexp.MustCompile(`Latchkey listening on (http://127\.0\.0\.1:\d+)`)
	deadline := time.After(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			stop := func() int {
				cancel()
				select {
				case code := <-done:
					return code
				case <-time.After(30 * time.Second):
					t.Fatal("serve did not stop")
					return -1
				}
			}
			return m[1], stop
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before listening", code)
		case <-deadline:
			t.Fatal("serve is not listening after 30s (is it waiting for stderr?)")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// get requests n URLs from 8 clients at once; every request must be
// answered 200 within timeout.
func getMany(t *testing.T, url string, n int, timeout time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: timeout}
	var wg sync.WaitGroup
	jobs := make(chan int)
	for range 8 {
		wg.Go(func() {
			for range jobs {
				resp, err := client.Get(url)
				if err != nil {
					t.Errorf("GET %s: %v", url, err)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("GET %s: status %d", url, resp.StatusCode)
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

func countRequestLines(log, path string) int {
	return strings.Count(log, `"msg":"request","method":"GET","path":"`+path+`"`)
}

// TestServeLogsEveryRequestBeforeExit: with a stderr that writes slowly,
// access log lines are still waiting in serve's log buffer when the load
// stops; a clean shutdown writes every one of them before serve returns.
func TestServeLogsEveryRequestBeforeExit(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("", "migrate")
	stderr := newSlowWriter(20*time.Millisecond, false)
	base, stop := startServe(t, c, stderr)
	const n = 300
	getMany(t, base+"/healthz", n, 10*time.Second)
	if code := stop(); code != 0 {
		t.Fatalf("serve exited with %d: %s", code, stderr.String())
	}
	log := stderr.String()
	if got := countRequestLines(log, "/healthz"); got != n {
		t.Errorf("%d access log lines for /healthz after shutdown, want %d", got, n)
	}
	if !strings.HasSuffix(strings.TrimSpace(log), `"msg":"stopped"}`) {
		t.Errorf("the log does not end with the stopped line: ...%s", log[max(0, len(log)-300):])
	}
}

// TestServeStalledStderrDoesNotBlockRequests: while stderr accepts
// nothing at all, serve still starts and answers every request at once;
// the lines are written when stderr recovers.
func TestServeStalledStderrDoesNotBlockRequests(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("", "migrate")
	stderr := newSlowWriter(0, true)
	base, stop := startServe(t, c, stderr)
	const n = 50
	getMany(t, base+"/healthz", n, 5*time.Second)
	if got := stderr.String(); got != "" {
		t.Fatalf("stderr was written while stalled: %q", got)
	}
	close(stderr.open)
	if code := stop(); code != 0 {
		t.Fatalf("serve exited with %d: %s", code, stderr.String())
	}
	if got := countRequestLines(stderr.String(), "/healthz"); got != n {
		t.Errorf("%d access log lines after stderr recovered, want %d", got, n)
	}
}

// TestLogWriterDropsWhatDoesNotFit: lines beyond the buffer's bound, while
// the output is stalled, are dropped and counted, never waited for, and
// the count is reported once writing resumes.
func TestLogWriterDropsWhatDoesNotFit(t *testing.T) {
	t.Parallel()
	out := newSlowWriter(0, true)
	lw := newLogWriter(out, 1000)
	line := []byte(strings.Repeat("x", 99) + "\n")
	// The first line goes to the stalled write once the writing goroutine
	// takes it; waiting for that keeps a slow machine from letting the
	// goroutine take more lines first.
	if _, err := lw.Write(line); err != nil {
		t.Fatal(err)
	}
	for taken := false; !taken; {
		lw.mu.Lock()
		taken = len(lw.buf) == 0
		lw.mu.Unlock()
		runtime.Gosched()
	}
	start := time.Now()
	for range 99 {
		if n, err := lw.Write(line); n != len(line) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("99 writes to a stalled output took %v", d)
	}
	close(out.open)
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	written := strings.Count(got, string(line))
	m := regexp.MustCompile(`"level":"WARN","msg":"log lines dropped: the log output did not keep up","dropped":(\d+)`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("no report of dropped lines in %q", got)
	}
	// At most one line went to the stalled write, and ten fit the buffer.
	if written < 10 || written > 11 || m[1] != strconv.Itoa(100-written) {
		t.Errorf("%d lines written, %s reported dropped, want 10 or 11 and the rest", written, m[1])
	}
	// After Close, lines are written directly.
	if _, err := lw.Write([]byte("after\n")); err != nil || !strings.HasSuffix(out.String(), "after\n") {
		t.Errorf("a write after Close: %v, output ends %q", err, out.String()[max(0, len(out.String())-20):])
	}
}

// countingWriter counts the writes it is given.
type countingWriter struct {
	mu     sync.Mutex
	writes int
	buf    bytes.Buffer
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

// TestLogWriterGathersLines: lines that come one at a time under load
// (here one every 50 µs or so, as 20,000 requests a second would log) go
// out many to a write, not one each; a line after a quiet spell goes out
// promptly; and every line is written, in order.
func TestLogWriterGathersLines(t *testing.T) {
	t.Parallel()
	out := &countingWriter{}
	lw := newLogWriter(out, logBufferMax)
	const n = 2000
	start := time.Now()
	for i := range n {
		if _, err := lw.Write([]byte(strconv.Itoa(i) + "\n")); err != nil {
			t.Fatal(err)
		}
		// Paced by the clock, not by time.Sleep, which sleeps about a
		// millisecond at the least here; yielding, so that the writing
		// goroutine can run between lines even on one CPU.
		for next := time.Now().Add(50 * time.Microsecond); time.Now().Before(next); {
			runtime.Gosched()
		}
	}
	elapsed := time.Since(start)
	time.Sleep(50 * time.Millisecond) // quiet
	if _, err := lw.Write([]byte("alone\n")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for !strings.HasSuffix(func() string { out.mu.Lock(); defer out.mu.Unlock(); return out.buf.String() }(), "alone\n") {
		if time.Now().After(deadline) {
			t.Fatal("a line after a quiet spell was not written within 1 s")
		}
		time.Sleep(time.Millisecond)
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.buf.String(), "\n"), "\n")
	if len(lines) != n+1 {
		t.Fatalf("%d lines written, want %d", len(lines), n+1)
	}
	for i := range n {
		if lines[i] != strconv.Itoa(i) {
			t.Fatalf("line %d is %q", i, lines[i])
		}
	}
	// One write per logGather while lines come, at most; the margin is for
	// the line after the quiet spell and the timer's slack. (Lines slower
	// than one per logGather would pass either way.)
	if limit := int(elapsed/logGather) + 20; out.writes > limit {
		t.Errorf("%d lines over %v took %d writes, want at most %d: lines are not gathered", n+1, elapsed, out.writes, limit)
	}
	t.Logf("%d lines over %v in %d writes", n+1, elapsed, out.writes)
}
