package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// serveInBackground runs `latchkey serve` on c's database until the test
// ends and returns its base URL.
func serveInBackground(t *testing.T, c *cli, extra ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		args := append([]string{"--db", c.db, "serve", "--addr", "127.0.0.1:0"}, extra...)
		done <- run(ctx, args, strings.NewReader(""), &out, &errb, func(k string) string { return c.env[k] })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	listening := regexp.MustCompile(`Latchkey listening on (http://127\.0\.0\.1:\d+)`)
	deadline := time.After(30 * time.Second)
	for {
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before listening: %s", code, errb.String())
		case <-deadline:
			t.Fatalf("serve is not listening after 30s: %s", errb.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// benchClient creates the client bench authenticates as at a target.
func benchClient(t *testing.T, c *cli) (id, secret string) {
	t.Helper()
	out := c.ok("", "client", "create", "--name", "Bench", "--type", "confidential",
		"--grant", "client_credentials", "--introspect", "--json")
	var got struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	return got.ID, got.Secret
}

var benchLine = regexp.MustCompile(`(?m)^(\w+): \d+ clients for \S+: (\d+) ok, (\d+) failed; (\d+)/s; p50 (\S+), p99 (\S+), max (\S+)$`)

// benchFigures parses bench's result lines: work → req/s, and checks each
// latency is positive.
func benchFigures(t *testing.T, out string) map[string]float64 {
	t.Helper()
	got := map[string]float64{}
	for _, m := range benchLine.FindAllStringSubmatch(out, -1) {
		rate, _ := strconv.ParseFloat(m[4], 64)
		got[m[1]] = rate
		for _, l := range m[5:8] {
			if d, err := time.ParseDuration(l); err != nil || d <= 0 {
				t.Errorf("%s: latency %q is not a positive duration", m[1], l)
			}
		}
	}
	return got
}

// TestBenchTarget runs bench against a real `latchkey serve` in the same
// test process, over loopback HTTP: every figure is positive, and the
// revocations answered 200 are reported inactive.
func TestBenchTarget(t *testing.T) {
	t.Parallel()
	srv := newCLI(t)
	base := serveInBackground(t, srv)
	id, secret := benchClient(t, srv)

	b := newCLI(t)
	b.env["LATCHKEY_BENCH_CLIENT_ID"] = id
	b.env["LATCHKEY_BENCH_CLIENT_SECRET"] = secret
	out := b.ok("", "bench", "--target", base, "--clients", "4", "--duration", "400ms", "--tokens", "300")
	figures := benchFigures(t, out)
	for _, work := range []string{"issue", "revoke", "introspect"} {
		if figures[work] <= 0 {
			t.Errorf("%s: got %v req/s, want a positive figure; output:\n%s", work, figures[work], out)
		}
	}
	m := regexp.MustCompile(`verified: introspected (\d+) of (\d+) answered tokens; (\d+) inactive, (\d+) still active`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no verification line in:\n%s", out)
	}
	if m[1] == "0" || m[1] != m[3] || m[4] != "0" {
		t.Errorf("verification: %s", m[0])
	}
}

// TestBenchTargetReplica runs bench against two servers on one database
// (two replicas): with --split the load goes to both, and a sample of the
// revocations answered by one is introspected at once on the other, where
// each must already be inactive.
func TestBenchTargetReplica(t *testing.T) {
	t.Parallel()
	srv := newCLI(t)
	a, r := serveInBackground(t, srv), serveInBackground(t, srv)
	id, secret := benchClient(t, srv)

	b := newCLI(t)
	b.env["LATCHKEY_BENCH_CLIENT_ID"] = id
	b.env["LATCHKEY_BENCH_CLIENT_SECRET"] = secret
	out := b.ok("", "bench", "--target", a, "--replica", r, "--split", "--clients", "4", "--duration", "400ms", "--tokens", "300")
	if !strings.Contains(out, "load split between "+a+" and "+r) {
		t.Errorf("no split line in:\n%s", out)
	}
	m := regexp.MustCompile(`across replicas: (\d+) sampled revocations checked on the other server; (\d+) inactive at the first introspection, (\d+) later, (\d+) still active after 5s, (\d+) errors; 200 to inactive p50 (\S+), p99 (\S+), max (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no cross-replica line in:\n%s", out)
	}
	if m[1] == "0" || m[2] != m[1] || m[3] != "0" || m[4] != "0" || m[5] != "0" {
		t.Errorf("cross-replica check: %s", m[0])
	}
	for _, l := range m[6:9] {
		if d, err := time.ParseDuration(l); err != nil || d <= 0 {
			t.Errorf("200 to inactive: latency %q is not a positive duration", l)
		}
	}
}

// TestBenchCeiling measures the plain form-parsing server, then a target,
// and prints each figure as a ratio to the ceiling.
func TestBenchCeiling(t *testing.T) {
	t.Parallel()
	srv := newCLI(t)
	base := serveInBackground(t, srv)
	id, secret := benchClient(t, srv)

	b := newCLI(t)
	b.env["LATCHKEY_BENCH_CLIENT_SECRET"] = secret
	out := b.ok("", "bench", "--ceiling", "--target", base, "--client-id", id, "--clients", "4", "--duration", "300ms")
	if benchFigures(t, out)["ceiling"] <= 0 {
		t.Errorf("no ceiling figure in:\n%s", out)
	}
	m := regexp.MustCompile(`ratio to ceiling \(\d+/s\): issue ([\d.]+), revoke ([\d.]+), introspect ([\d.]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no ratio line in:\n%s", out)
	}
	for i, work := range []string{"issue", "revoke", "introspect"} {
		r, err := strconv.ParseFloat(m[i+1], 64)
		if err != nil || r <= 0 || r >= 2 {
			t.Errorf("%s ratio: got %q, want in (0, 2)", work, m[i+1])
		}
	}
	// What each phase cost the machine, and the ceiling's cost per
	// request over each phase's, the ratio's first factor.
	machineLines(t, out, "ceiling", "issue", "revoke", "introspect")
	if _, err := os.Stat("/proc/stat"); err == nil {
		m := regexp.MustCompile(`CPU per request, the ceiling's over each \(([\d.]+) µs\): issue ([\d.]+), revoke ([\d.]+), introspect ([\d.]+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no CPU ratio line in:\n%s", out)
		}
		for i, v := range m[1:] {
			if f, err := strconv.ParseFloat(v, 64); err != nil || f <= 0 {
				t.Errorf("CPU ratio line, figure %d: got %q, want a positive number", i, v)
			}
		}
	}
}

// TestBenchTargetUsage refuses what cannot work, with one line and exit 2.
func TestBenchTargetUsage(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for _, args := range [][]string{
		{"bench", "--target", "http://127.0.0.1:1"},
		{"bench", "--target", "https://auth.example.com", "--client-id", "a", "--client-secret", "b"},
		{"bench", "--target", "http://127.0.0.1:1/o/", "--client-id", "a", "--client-secret", "b"},
		{"bench", "--target", "http://127.0.0.1:1", "--client-id", "a", "--client-secret", "b", "--events"},
		{"bench", "--replica", "http://127.0.0.1:2"},
		{"bench", "--target", "http://127.0.0.1:1", "--client-id", "a", "--client-secret", "b", "--replica", "https://b.example.com"},
		{"bench", "--target", "http://127.0.0.1:1", "--client-id", "a", "--client-secret", "b", "--split"},
	} {
		r := c.run("", args...)
		if r.code != 2 || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want 2 and one line", args, r.code, r.stderr)
		}
	}
}

// TestBenchFill creates a new database of filler tokens whose overview
// counts match the rows, and refuses a database that exists.
func TestBenchFill(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	out := c.ok("", "bench", "fill", "--tokens", "2000")
	if !strings.Contains(out, "with 2000 tokens") {
		t.Errorf("output: %q", out)
	}
	st := c.store()
	ctx := context.Background()
	var tokens, revoked, grants int64
	db, err := sql.Open("sqlite3", "file:"+c.db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow("SELECT COUNT(*), COUNT(revoked_at) FROM tokens").Scan(&tokens, &revoked); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRow("SELECT COUNT(*) FROM grants").Scan(&grants); err != nil {
		t.Fatal(err)
	}
	if tokens != 2000 || grants != 1000 || revoked != 200 {
		t.Errorf("got %d tokens (%d revoked) in %d grants, want 2000 (200) in 1000", tokens, revoked, grants)
	}
	o, err := st.Overview(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if o.ActiveAccess != 900 || o.ActiveRefresh != 900 || o.ActiveGrants != 900 {
		t.Errorf("overview: %d access, %d refresh, %d grants live; want 900 each", o.ActiveAccess, o.ActiveRefresh, o.ActiveGrants)
	}
	wantOneLine(t, c.run("", "bench", "fill", "--tokens", "10"), 2, "exists")
	wantOneLine(t, newCLI(t).run("", "--db", "postgres://x@127.0.0.1/db", "bench", "fill"), 2, "SQLite")
}

// TestBenchEvents runs the push-stream comparison end to end: every SET
// delivered during the runs with a stream reached the bench's receiver as
// a compact JWS, and both kinds of run report a rate.
func TestBenchEvents(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	out := c.ok("", "bench", "--events", "--runs", "1", "--clients", "4", "--duration", "300ms", "--tokens", "3000")
	m := regexp.MustCompile(`commit to 202 with a push stream: (\d+) SETs delivered \((\d+) received\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no delivery line in:\n%s", out)
	}
	if m[1] == "0" || m[1] != m[2] {
		t.Errorf("delivery: %s; want some SETs, each received", m[0])
	}
	if !regexp.MustCompile(`median revocations/s: \d+ without a stream, \d+ with a push stream`).MatchString(out) {
		t.Errorf("no median line in:\n%s", out)
	}
}
