package web_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs url and parses the exposition with Prometheus' own parser.
func scrape(t *testing.T, client *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// value returns the counter, gauge or histogram count of the series of
// family name whose labels include want ("k=v" pairs).
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no family %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for _, kv := range want {
			k, v, _ := strings.Cut(kv, "=")
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// TestMetrics: /metrics from this machine answers the families an operator
// needs, as Prometheus parses them, and the numbers move with what the
// server does: one revocation at the endpoint is exactly one more.
func TestMetrics(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	revoke := func(token string) {
		t.Helper()
		resp, _ := postForm(t, ts, "/o/revoke_token/", url.Values{"token": {token},
			"client_id": {ts.f.Confidential.ClientID}, "client_secret": {ts.f.Secret}}, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
	}
	tok := ts.clientCredentials(t)
	before := scrape(t, ts.Client(), ts.URL+"/metrics")
	for _, name := range []string{
		"latchkey_http_requests_total", "latchkey_http_request_duration_seconds",
		"latchkey_revocations_total", "latchkey_revoked_grants_total", "latchkey_revoked_tokens_total",
		"latchkey_revocations_unknown_token_total", "latchkey_login_failures_total", "latchkey_login_throttled_total",
		"latchkey_write_commits_total", "latchkey_writes_total", "latchkey_write_batch_size", "latchkey_write_commit_seconds",
		"latchkey_purged_rows_total", "latchkey_purge_runs_total", "latchkey_purge_last_success_timestamp_seconds",
		"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_open_fds",
	} {
		if _, ok := before[name]; !ok {
			t.Errorf("no family %s", name)
		}
	}
	if got := before["latchkey_http_request_duration_seconds"].GetType(); got != dto.MetricType_HISTOGRAM {
		t.Errorf("latency type: got %v, want a histogram", got)
	}

	revoke(tok.AccessToken)
	revoke("lk_at_unknown")
	after := scrape(t, ts.Client(), ts.URL+"/metrics")
	for _, c := range []struct {
		name   string
		labels []string
		delta  float64
	}{
		{"latchkey_revocations_total", []string{"path=endpoint", "result=revoked"}, 1},
		{"latchkey_revocations_total", []string{"path=endpoint", "result=unknown"}, 1},
		{"latchkey_revocations_total", []string{"path=dashboard", "result=revoked"}, 0},
		{"latchkey_revoked_grants_total", []string{"path=endpoint"}, 1},
		{"latchkey_revoked_tokens_total", []string{"path=endpoint"}, 1}, // client credentials: an access token only
		{"latchkey_revocations_unknown_token_total", nil, 1},
		{"latchkey_http_requests_total", []string{"route=/o/revoke_token/", "method=POST", "code=200"}, 2},
		{"latchkey_http_request_duration_seconds", []string{"route=/o/revoke_token/", "method=POST", "code=200"}, 2},
		{"latchkey_http_requests_total", []string{"route=/metrics", "method=GET", "code=200"}, 1},
	} {
		if got := value(t, after, c.name, c.labels...) - value(t, before, c.name, c.labels...); got != c.delta {
			t.Errorf("%s%v: moved by %v, want %v", c.name, c.labels, got, c.delta)
		}
	}
	if n := value(t, after, "latchkey_write_commits_total"); n < 2 {
		t.Errorf("write commits: %v, want at least the issuance and the revocation", n)
	}
	if n := value(t, after, "latchkey_write_batch_size"); n != value(t, after, "latchkey_write_commits_total") {
		t.Errorf("batch size histogram counts %v commits, the counter %v", n, value(t, after, "latchkey_write_commits_total"))
	}
	// Every commit is timed, each bucket holds the ones before it, and the
	// time is what a durable commit takes: more than nothing, far less
	// than a minute.
	// (The two are read one after the other: a background write may
	// commit in between.)
	if n, c := value(t, after, "latchkey_write_commit_seconds"), value(t, after, "latchkey_write_commits_total"); n < c-1 || n > c+1 {
		t.Errorf("commit time histogram counts %v commits, the counter %v", n, c)
	}
	h := after["latchkey_write_commit_seconds"].GetMetric()[0].GetHistogram()
	var prev uint64
	for _, b := range h.GetBucket() {
		if b.GetCumulativeCount() < prev {
			t.Errorf("commit time bucket le=%v holds %d, fewer than the %d before it", b.GetUpperBound(), b.GetCumulativeCount(), prev)
		}
		prev = b.GetCumulativeCount()
	}
	if prev > h.GetSampleCount() {
		t.Errorf("commit time buckets hold %d, the count is %d", prev, h.GetSampleCount())
	}
	if s := h.GetSampleSum(); s <= 0 || s > 60 {
		t.Errorf("commit time sum %v s for %d commits", s, h.GetSampleCount())
	}
}

// TestMetricsRouteLabels: requests are counted by route pattern, never by
// raw path, so that nobody can grow the registry by inventing URLs.
func TestMetricsRouteLabels(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, path := range []string{"/nowhere/secret-abc123", "/admin/users/987654", "/o/token/?x=lk_at_zzz"} {
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	req, _ := http.NewRequest("BREW", ts.URL+"/o/token/", nil)
	if resp, err := ts.Client().Do(req); err == nil {
		resp.Body.Close()
	}
	known := map[string]bool{"unmatched": true}
	for _, r := range ts.Config.Handler.(*echo.Echo).Routes() {
		known[r.Path] = true
	}
	fams := scrape(t, ts.Client(), ts.URL+"/metrics")
	seen := map[string]bool{}
	for _, m := range fams["latchkey_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "route":
				seen[l.GetValue()] = true
				if !known[l.GetValue()] {
					t.Errorf("route label %q is not a route pattern", l.GetValue())
				}
			case "method":
				if l.GetValue() == "BREW" {
					t.Errorf("method label %q: want OTHER", l.GetValue())
				}
			}
		}
	}
	if !seen["/admin/users/:id"] {
		t.Errorf("routes seen %v, want /admin/users/:id", seen)
	}
}

// TestMetricsOnlyForThisMachine: on the main listener, /metrics answers a
// loopback peer only. The peer decides, never a header: a request that a
// proxy forwarded (even a trusted one, even from loopback) is someone
// else's and gets 404, as does a peer on another address.
func TestMetricsOnlyForThisMachine(t *testing.T) {
	t.Parallel()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	_, loopbackNet, _ := net.ParseCIDR("127.0.0.0/8")
	ts := startServer(t, st, f, web.Config{TrustedProxies: []*net.IPNet{loopbackNet}}, nil)

	get := func(hdr http.Header) int {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+"/metrics", nil)
		req.Header = hdr
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get(http.Header{}); got != 200 {
		t.Errorf("from 127.0.0.1: %d, want 200", got)
	}
	for name, hdr := range map[string]http.Header{
		"X-Forwarded-For public, through a trusted proxy": {"X-Forwarded-For": {"203.0.113.9"}},
		"X-Forwarded-For loopback":                        {"X-Forwarded-For": {"127.0.0.1"}},
		"Forwarded":                                       {"Forwarded": {"for=203.0.113.9"}},
		"X-Real-IP":                                       {"X-Real-Ip": {"203.0.113.9"}},
	} {
		if got := get(hdr); got != 404 {
			t.Errorf("%s: %d, want 404", name, got)
		}
	}

	// A peer on another address. Through the server's own handler, as the
	// test machine may have no other interface to connect from.
	for _, peer := range []string{"203.0.113.9:4000", "[2001:db8::1]:4000", "10.0.0.5:4000", "not an address"} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.RemoteAddr = peer
		ts.Config.Handler.ServeHTTP(rec, req)
		if rec.Code != 404 || strings.Contains(rec.Body.String(), "latchkey_") {
			t.Errorf("peer %s: %d, want 404 without metrics", peer, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.RemoteAddr = "[::1]:4000"
	ts.Config.Handler.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Errorf("peer [::1]: %d, want 200", rec.Code)
	}
}

// TestMetricsOwnListener: with a metrics listener of its own (serve
// --metrics-addr), the main listener does not serve /metrics at all, even
// to loopback, and the metrics listener serves the main server's numbers.
func TestMetricsOwnListener(t *testing.T) {
	t.Parallel()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	m := web.NewMetrics(st)
	ts := startServer(t, st, f, web.Config{Metrics: m, MetricsElsewhere: true}, nil)
	ms := httptest.NewServer(m.Handler())
	t.Cleanup(ms.Close)

	resp, err := ts.Client().Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("main listener /metrics: %d, want 404", resp.StatusCode)
	}
	ts.clientCredentials(t)
	fams := scrape(t, ms.Client(), ms.URL+"/metrics")
	if got := value(t, fams, "latchkey_http_requests_total", "route=/o/token/", "method=POST", "code=200"); got != 1 {
		t.Errorf("token requests seen by the metrics listener: %v, want 1", got)
	}
	if got := value(t, fams, "latchkey_http_requests_total", "route=/metrics"); got != 0 {
		t.Errorf("the main listener served /metrics %v times", got)
	}
}
