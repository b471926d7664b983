package web_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
)

// accessLine is one access log line as `latchkey serve` writes it.
type accessLine struct {
	Level     string `json:"level"`
	Msg       string `json:"msg"`
	Method    string `json:"method"`
	Path      string `json:"path"`
	Status    int    `json:"status"`
	Latency   *int64 `json:"latency"`
	RequestID string `json:"request_id"`
	Remote    string `json:"remote"`
}

// accessLines parses the log's access lines.
func accessLines(t *testing.T, log string) []accessLine {
	t.Helper()
	var out []accessLine
	for _, l := range strings.Split(strings.TrimSpace(log), "\n") {
		var a accessLine
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("log line is not JSON: %q", l)
		}
		if a.Msg == "request" {
			out = append(out, a)
		}
	}
	return out
}

// TestAccessLog: every request, answered or refused, has one access line
// with its method, path (never the query), status, latency, the request
// ID the client was sent, and the TCP peer; a client's own X-Request-ID is
// never used.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	ts := startServer(t, st, f, web.Config{}, slog.New(slog.NewJSONHandler(&logs, nil)))
	tok := ts.clientCredentials(t)

	resp, body := postForm(t, ts, "/o/introspect/", url.Values{"token": {tok.AccessToken}},
		http.Header{"Authorization": {basicAuth(f.Confidential.ClientID, f.Secret)}, "X-Request-Id": {"forged"}})
	if resp.StatusCode != 200 || body["active"] != true {
		t.Fatalf("introspect: %d %v", resp.StatusCode, body)
	}
	introspectID := resp.Header.Get("X-Request-Id")
	refused, _ := postForm(t, ts, "/o/revoke_token/", url.Values{"token": {"x"}}, nil) // no client authentication
	if refused.StatusCode != 401 {
		t.Fatalf("revoke without credentials: %d", refused.StatusCode)
	}
	missing, err := ts.Client().Get(ts.URL + "/nowhere?secret=s3cr3t")
	if err != nil {
		t.Fatal(err)
	}
	missing.Body.Close()

	lines := accessLines(t, logs.String())
	want := []struct {
		method, path, level string
		status              int
		id                  string
	}{
		{"POST", "/o/token/", "INFO", 200, ""},
		{"POST", "/o/introspect/", "INFO", 200, introspectID},
		{"POST", "/o/revoke_token/", "INFO", 401, refused.Header.Get("X-Request-Id")},
		{"GET", "/nowhere", "INFO", 404, missing.Header.Get("X-Request-Id")},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d access lines, want %d: %s", len(lines), len(want), logs.String())
	}
	for i, w := range want {
		l := lines[i]
		if l.Method != w.method || l.Path != w.path || l.Status != w.status || l.Level != w.level {
			t.Errorf("line %d: %+v, want %s %s %d at %s", i, l, w.method, w.path, w.status, w.level)
		}
		if len(l.RequestID) != 32 || (w.id != "" && l.RequestID != w.id) {
			t.Errorf("line %d: request_id %q, want the answer's X-Request-Id %q (32 characters)", i, l.RequestID, w.id)
		}
		if l.Latency == nil || *l.Latency <= 0 || l.Remote != "127.0.0.1" {
			t.Errorf("line %d: latency %v, remote %q", i, l.Latency, l.Remote)
		}
	}
	if introspectID == "forged" || strings.Contains(logs.String(), "forged") || strings.Contains(logs.String(), "s3cr3t") {
		t.Errorf("the log holds the client's request ID or its query: %s", logs.String())
	}
}

// TestPanicIsAnsweredLoggedAndCounted: a handler that panics answers 500
// with a request ID, logs the panic and an access line at ERROR, and is
// counted in metrics.
func TestPanicIsAnsweredLoggedAndCounted(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	st := modelstest.NewStore(t)
	e := web.New(web.Config{Issuer: "http://127.0.0.1", TTLs: models.DefaultTTLs}, st, slog.New(slog.NewJSONHandler(&logs, nil)))
	e.GET("/api/test-panic", func(echo.Context) error { panic("boom") })
	srv := httptest.NewServer(e)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/api/test-panic")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 500 || id == "" {
		t.Fatalf("status %d, X-Request-Id %q: want 500 with an ID", resp.StatusCode, id)
	}
	if !strings.Contains(logs.String(), `"msg":"panic"`) {
		t.Errorf("no panic line: %s", logs.String())
	}
	lines := accessLines(t, logs.String())
	if len(lines) != 1 || lines[0].Status != 500 || lines[0].Level != "ERROR" || lines[0].RequestID != id {
		t.Errorf("access lines %+v, want one at ERROR with status 500 and request_id %s", lines, id)
	}
	fams := scrape(t, srv.Client(), srv.URL+"/metrics")
	if got := value(t, fams, "latchkey_http_requests_total", "route=/api/test-panic", "code=500"); got != 1 {
		t.Errorf("requests counted with 500: %v, want 1", got)
	}
}

// TestSecurityHeaders: every answer carries nosniff, X-Frame-Options and
// the CSP: JSON, page, redirect or error alike, the body limit's and the
// text guard's refusals included. Pages and redirects also carry
// Referrer-Policy, machine answers do not; none carries X-XSS-Protection;
// HSTS only when the issuer is https and the request came over https
// (here: X-Forwarded-Proto from a proxy on loopback).
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"X-Frame-Options":         "DENY",
		"Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
	}
	big := "grant_type=client_credentials&x=" + strings.Repeat("a", 70<<10)
	cases := []struct {
		method, path, ctype, body string
		page                      bool // a page or a redirect, not a machine answer
		status                    int
	}{
		{"GET", "/.well-known/oauth-authorization-server", "", "", false, 200},
		{"GET", "/login", "", "", true, 200},
		{"GET", "/nowhere", "", "", true, 404},
		{"GET", "/o/token/", "", "", false, 405},
		{"GET", "/o/authorize/", "", "", true, 400},
		{"GET", "/admin", "", "", true, 303},                                        // to the login page
		{"GET", "/login?next=%ff", "", "", true, 400},                               // the text guard
		{"POST", "/login", "text/plain", "username=a", true, 415},                   // the text guard
		{"POST", "/o/token/", "application/x-www-form-urlencoded", big, false, 413}, // the body limit
	}
	st := modelstest.NewStore(t)
	for _, issuer := range []string{"http://127.0.0.1", "https://auth.example.com"} {
		h := web.New(web.Config{Issuer: issuer, TTLs: models.DefaultTTLs}, st, nil)
		for _, tc := range cases {
			for _, proto := range []string{"", "https"} {
				req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
				req.RemoteAddr = "127.0.0.1:40000"
				if tc.ctype != "" {
					req.Header.Set("Content-Type", tc.ctype)
				}
				if proto != "" {
					req.Header.Set("X-Forwarded-Proto", proto)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				what := fmt.Sprintf("%s %s %s (proto %q)", issuer, tc.method, tc.path, proto)
				if w.Code != tc.status {
					t.Errorf("%s: status %d, want %d", what, w.Code, tc.status)
				}
				for k, v := range want {
					if got := w.Header().Values(k); len(got) != 1 || got[0] != v {
						t.Errorf("%s: %s = %q, want %q", what, k, got, v)
					}
				}
				if got := w.Header().Values("Referrer-Policy"); tc.page != (len(got) == 1 && got[0] == "no-referrer") || len(got) > 1 {
					t.Errorf("%s (a page or redirect: %v): Referrer-Policy %q", what, tc.page, got)
				}
				if got, ok := w.Header()["X-Xss-Protection"]; ok {
					t.Errorf("%s: X-XSS-Protection %q, want none", what, got)
				}
				hsts := w.Header().Get("Strict-Transport-Security")
				if wantHSTS := strings.HasPrefix(issuer, "https") && proto == "https"; wantHSTS != (hsts == "max-age=31536000; includeSubdomains") || (!wantHSTS && hsts != "") {
					t.Errorf("%s: Strict-Transport-Security %q", what, hsts)
				}
			}
		}
	}
}

// TestMachineAnswersFitASmallHeaderMap: the answers of the token,
// introspection and revocation endpoints, over https with HSTS, set at
// most 8 headers of their own (Date and Content-Length are net/http's,
// outside the handler's map). A Go map of 8 entries is one group; a 9th
// header makes it a table, which costs each of these answers, the
// server's busiest, about 1.5 KB and 2 µs more in the map and in
// net/http's copy of it. (A browser's CORS request adds
// Access-Control-Allow-Origin: a 9th, on answers to a browser.)
func TestMachineAnswersFitASmallHeaderMap(t *testing.T) {
	t.Parallel()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	srv := httptest.NewServer(web.New(web.Config{Issuer: "https://auth.example.com", TTLs: models.DefaultTTLs}, st, nil))
	t.Cleanup(srv.Close)
	ts := &testServer{Server: srv, st: st, f: f}
	hdr := http.Header{"Authorization": {basicAuth(f.Confidential.ClientID, f.Secret)}, "X-Forwarded-Proto": {"https"}}
	check := func(what string, resp *http.Response) {
		t.Helper()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: status %d", what, resp.StatusCode)
		}
		if resp.Header.Get("Strict-Transport-Security") == "" {
			t.Fatalf("%s: no HSTS; the test means to count it", what)
		}
		own := []string{}
		for k := range resp.Header {
			if k != "Date" && k != "Content-Length" {
				own = append(own, k)
			}
		}
		if len(own) > 8 {
			slices.Sort(own)
			t.Errorf("%s: %d headers of the handler's own, want at most 8: %v", what, len(own), own)
		}
	}
	resp, body := postForm(t, ts, "/o/token/", url.Values{"grant_type": {"client_credentials"}}, hdr)
	check("token", resp)
	tok, _ := body["access_token"].(string)
	resp, body = postForm(t, ts, "/o/introspect/", url.Values{"token": {tok}}, hdr)
	if body["active"] != true {
		t.Fatalf("introspect: %v", body)
	}
	check("introspection", resp)
	resp, _ = postForm(t, ts, "/o/revoke_token/", url.Values{"token": {tok}}, hdr)
	check("revocation", resp)
	if resp, body = postForm(t, ts, "/o/introspect/", url.Values{"token": {tok}}, hdr); body["active"] != false {
		t.Fatalf("introspect after revoke: %d %v", resp.StatusCode, body)
	}
}

// TestRequestAllocations bounds what the middleware allocates per request
// (GET /healthz: access log, metrics, recovery, request ID, body limit,
// text guard, security headers, with a JSON log). It was 20 when echo
// rebuilt the middleware chain for every request and headers were set
// through Header.Set.
func TestRequestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts include the race detector's own; `go test ./web` without -race checks them")
	}
	st := modelstest.NewStore(t)
	h := web.New(web.Config{Issuer: "http://127.0.0.1", TTLs: models.DefaultTTLs}, st, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	req := httptest.NewRequest("GET", "/healthz", nil)
	w := &benchWriter{h: http.Header{}}
	allocs := testing.AllocsPerRun(200, func() {
		clear(w.h)
		w.status, w.body = 0, w.body[:0]
		h.ServeHTTP(w, req)
	})
	if w.status != 200 {
		t.Fatalf("status %d", w.status)
	}
	if allocs > 6 {
		t.Errorf("%v allocations per request, want at most 6", allocs)
	}
}

// TestIntrospectionAllocations bounds what an introspection allocates
// through the whole server (middleware, client authentication, the read,
// the answer), with a fresh header map per request as net/http gives:
// the busiest answer Latchkey writes, where every byte allocated is paid
// again by the collector. It answers from a pooled buffer and keeps its
// header map within one group (TestMachineAnswersFitASmallHeaderMap);
// it allocated 3,620 bytes in 43 allocations here before those two, and
// 2,493 in 39 after. (This request's context cannot end, so the read's
// wait on it is TestActiveTokenReadsThroughTheDriver's to count.)
func TestIntrospectionAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts include the race detector's own; `go test ./web` without -race checks them")
	}
	modelstest.SkipOnPostgres(t) // the bounds are the SQLite read's, which goes through the driver directly
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	h := web.New(web.Config{Issuer: "http://127.0.0.1", TTLs: models.DefaultTTLs}, st, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	iss, err := st.BulkIssue(t.Context(), f.Confidential, f.Alice.ID, 8)
	if err != nil {
		t.Fatal(err)
	}
	bodies := tokenBodies(iss)
	body := &benchBody{}
	req := httptest.NewRequest("POST", "/o/introspect/", body)
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicAuth(f.Confidential.ClientID, f.Secret))
	w := &benchWriter{}
	i := 0
	one := func() {
		s := bodies[i%len(bodies)]
		i++
		body.Reset(s)
		req.Body, req.ContentLength = body, int64(len(s))
		w.h, w.status, w.body = http.Header{}, 0, w.body[:0]
		h.ServeHTTP(w, req)
		if w.status != 200 || !strings.HasPrefix(string(w.body), `{"active":true,`) {
			t.Fatalf("status %d: %s", w.status, w.body)
		}
	}
	allocs := testing.AllocsPerRun(200, one)
	const n = 500
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		one()
	}
	runtime.ReadMemStats(&after)
	perReq := float64(after.TotalAlloc-before.TotalAlloc) / n
	t.Logf("%.0f allocations, %.0f bytes per introspection", allocs, perReq)
	if allocs > 39 || perReq > 2800 {
		t.Errorf("%.0f allocations and %.0f bytes per introspection, want at most 39 and 2,800", allocs, perReq)
	}
}
