package web_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
)

// The BenchmarkServe* benchmarks send one request at a time straight to
// the server's handler, through every middleware, the handler and the
// store, with the access log formatted as `latchkey serve` formats it (to
// io.Discard). There is no socket and no HTTP client, so -benchmem counts
// only what the server does per request, above net/http's own reading and
// writing. cpu-ns/op is the process's CPU time per request, all threads.

// benchServer is a server on a fresh SQLite store, with a JSON log.
func benchServer(b *testing.B) (http.Handler, *models.Store, *modelstest.Fixture) {
	b.Helper()
	st := modelstest.NewStore(b)
	f := modelstest.NewFixture(b, st)
	h := web.New(web.Config{Issuer: "http://127.0.0.1:8000", TTLs: models.DefaultTTLs}, st,
		slog.New(slog.NewJSONHandler(io.Discard, nil)))
	return h, st, f
}

// benchBody is a request body that can be refilled without allocating.
type benchBody struct{ strings.Reader }

func (*benchBody) Close() error { return nil }

// benchWriter is a ResponseWriter whose header map is emptied between
// requests (net/http makes a new one for each: that allocation is net/http's,
// not the server's).
type benchWriter struct {
	h      http.Header
	status int
	body   []byte
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(s int)   { w.status = s }
func (w *benchWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

// benchPost sends POSTs of bodies, in turn, to path (or to "GET path"),
// authenticating with HTTP Basic, and checks each answer with ok.
func benchPost(b *testing.B, h http.Handler, f *modelstest.Fixture, path string, bodies []string, ok func(status int, body []byte) bool) {
	b.Helper()
	body := &benchBody{}
	method := "POST"
	if p, ok := strings.CutPrefix(path, "GET "); ok {
		method, path = "GET", p
	}
	req, err := http.NewRequestWithContext(context.Background(), method, "http://127.0.0.1:8000"+path, body)
	if err != nil {
		b.Fatal(err)
	}
	req.RemoteAddr = "127.0.0.1:40000"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basicAuth(f.Confidential.ClientID, f.Secret))
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i++ {
		s := bodies[i%len(bodies)]
		body.Reset(s)
		req.Body = body
		req.ContentLength = int64(len(s))
		clear(w.h)
		w.status, w.body = 0, w.body[:0]
		h.ServeHTTP(w, req)
		if !ok(w.status, w.body) {
			b.Fatalf("status %d: %s", w.status, w.body)
		}
	}
	if cpu := processCPU() - cpu; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkServeHealthz is GET /healthz: the middleware and echo alone,
// with no store call and no body.
func BenchmarkServeHealthz(b *testing.B) {
	h, _, f := benchServer(b)
	benchPost(b, h, f, "GET /healthz", []string{""}, func(status int, body []byte) bool { return status == 200 })
}

// BenchmarkServeIntrospect introspects live tokens.
func BenchmarkServeIntrospect(b *testing.B) {
	h, st, f := benchServer(b)
	iss, err := st.BulkIssue(context.Background(), f.Confidential, f.Alice.ID, 1000)
	if err != nil {
		b.Fatal(err)
	}
	benchPost(b, h, f, "/o/introspect/", tokenBodies(iss),
		func(status int, body []byte) bool {
			return status == 200 && strings.HasPrefix(string(body), `{"active":true,`)
		})
}

// BenchmarkServeRevoke revokes distinct live tokens (each commit is
// durable, so ns/op is mostly the fsync; allocs/op is the measure).
func BenchmarkServeRevoke(b *testing.B) {
	h, st, f := benchServer(b)
	iss, err := st.BulkIssue(context.Background(), f.Confidential, f.Alice.ID, b.N)
	if err != nil {
		b.Fatal(err)
	}
	benchPost(b, h, f, "/o/revoke_token/", tokenBodies(iss),
		func(status int, _ []byte) bool { return status == 200 })
}

// BenchmarkServeIssue issues client_credentials tokens (durable commits,
// as above).
func BenchmarkServeIssue(b *testing.B) {
	h, _, f := benchServer(b)
	benchPost(b, h, f, "/o/token/", []string{"grant_type=client_credentials"},
		func(status int, body []byte) bool {
			return status == 200 && strings.HasPrefix(string(body), `{"access_token":`)
		})
}

func tokenBodies(iss []*models.Issued) []string {
	out := make([]string, len(iss))
	for i, x := range iss {
		out[i] = "token=" + x.AccessToken
	}
	return out
}
