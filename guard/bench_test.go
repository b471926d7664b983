package guard_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkMiddlewareCached is the guard's own cost per request for a
// cached token, without the network: hashing the token, the health check,
// the cache lookup and the request copy that carries Info.
func BenchmarkMiddlewareCached(b *testing.B) {
	s := newStandIn(b)
	g, _ := startGuard(b, s, time.Minute)
	s.issue("tok", "sid", "alice", "app")
	h := g.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("GET", "/things", nil)
	req.Header.Set("Authorization", "Bearer tok")
	h.ServeHTTP(httptest.NewRecorder(), req) // cached from here on
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := httptest.NewRecorder()
		for pb.Next() {
			h.ServeHTTP(w, req)
		}
	})
	if n := s.introspections.Load(); n != 1 {
		b.Fatalf("%d introspections, want 1", n)
	}
}
