package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServeMetricsAddr: serve --metrics-addr (here from its environment
// variable) gives /metrics a listener of its own, and the main listener
// then answers 404 for it, even to this machine.
func TestServeMetricsAddr(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.env["LATCHKEY_METRICS_ADDR"] = "127.0.0.1:0"
	c.env["LATCHKEY_PURGE_AFTER"] = "30d"
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--db", c.db, "serve", "--addr", "127.0.0.1:0"}, strings.NewReader(""), &out, &errb,
			func(k string) string { return c.env[k] })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d: %s", code, errb.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	main := regexp.MustCompile(`Latchkey listening on (http://127\.0\.0\.1:\d+)`)
	metrics := regexp.MustCompile(`Metrics on (http://127\.0\.0\.1:\d+/metrics)`)
	deadline := time.Now().Add(30 * time.Second)
	for !main.MatchString(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("serve is not listening: %s %s", out.String(), errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	m := metrics.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("stdout %q: want the metrics address", out.String())
	}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	base := main.FindStringSubmatch(out.String())[1]
	if code, _ := get(base + "/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	if code, body := get(base + "/metrics"); code != 404 || strings.Contains(body, "latchkey_") {
		t.Errorf("main listener /metrics: %d, want 404", code)
	}
	code, body := get(m[1])
	if code != 200 || !strings.Contains(body, `latchkey_http_requests_total{code="200",method="GET",route="/healthz"} 1`) ||
		!strings.Contains(body, "latchkey_purge_runs_total") {
		t.Errorf("metrics listener: %d\n%s", code, body)
	}
	if !strings.Contains(errb.String(), `"purge_after":"30d"`) {
		t.Errorf("log %q: want purge_after 30d", errb.String())
	}
}

// TestServeOperationsFlagsRefused: a bad --purge-after or --metrics-addr
// is one line on stderr and exit 2, before anything listens.
func TestServeOperationsFlagsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, env, value, contains string
	}{
		{"purge-after", "", "soon", "--purge-after"},
		{"negative purge-after", "", "-1h", "--purge-after"},
		{"purge-after from the environment", "LATCHKEY_PURGE_AFTER", "30 days", "LATCHKEY_PURGE_AFTER"},
		{"metrics-addr", "", "9100", "--metrics-addr"},
		{"metrics-addr from the environment", "LATCHKEY_METRICS_ADDR", "metrics", "--metrics-addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			args := []string{"serve", "--addr", "127.0.0.1:0"}
			if tc.env != "" {
				c.env[tc.env] = tc.value
			} else {
				flag := "--" + strings.TrimPrefix(strings.Fields(tc.contains)[0], "--")
				args = append(args, flag, tc.value)
			}
			wantOneLine(t, c.run("", args...), 2, tc.contains)
		})
	}
}
