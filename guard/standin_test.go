package guard_test

// A stand-in transmitter: just enough of Latchkey's introspection and SSF
// endpoints, as their RFCs describe them, to exercise the guard's own
// logic (forged SETs, unreadable subjects, the cache bound) in isolation.
// The tests that matter run against a real Latchkey in
// cmd/latchkey/guard_test.go.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/latchkey/latchkey/guard"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

type standIn struct {
	*httptest.Server
	t              testing.TB
	key            jwk.Key
	jwks           []byte
	introspections atomic.Int64
	cut            atomic.Bool // SSF endpoints answer 503
	// dropIntrospection: the next introspection request is read, then its
	// connection closed without an answer, as a restarting server does.
	dropIntrospection atomic.Bool
	pollWait          time.Duration // how long a poll is held without events
	// introURL, when set, is the introspection endpoint the metadata
	// names instead of the stand-in's own.
	introURL atomic.Pointer[string]

	mu     sync.Mutex
	active map[string]map[string]any // token → introspection answer
	queue  map[string]string         // jti → SET, until acked
	errs   map[string]string         // setErrs received: jti → err
	wake   chan struct{}
	seq    int
}

func newStandIn(t testing.TB) *standIn {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s := &standIn{t: t, active: map[string]map[string]any{}, queue: map[string]string{}, errs: map[string]string{}, wake: make(chan struct{}),
		pollWait: 2 * time.Second}
	s.key, _ = jwk.Import(priv)
	_ = s.key.Set(jwk.KeyIDKey, "k1")
	pub, _ := jwk.PublicKeyOf(priv.Public())
	_ = pub.Set(jwk.KeyIDKey, "k1")
	_ = pub.Set(jwk.AlgorithmKey, jwa.ES256())
	set := jwk.NewSet()
	_ = set.AddKey(pub)
	s.jwks, _ = json.Marshal(set)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	iss := s.URL
	js := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	if strings.HasPrefix(r.URL.Path, "/ssf/") && s.cut.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	switch r.URL.Path {
	case "/.well-known/oauth-authorization-server":
		intro := iss + "/o/introspect/"
		if u := s.introURL.Load(); u != nil {
			intro = *u
		}
		js(200, map[string]string{"issuer": iss, "token_endpoint": iss + "/o/token/", "introspection_endpoint": intro})
	case "/.well-known/ssf-configuration":
		js(200, map[string]any{"issuer": iss, "jwks_uri": iss + "/o/jwks/", "configuration_endpoint": iss + "/ssf/stream",
			"status_endpoint": iss + "/ssf/status", "delivery_methods_supported": []string{guard.MethodPoll}})
	case "/o/jwks/":
		w.Write(s.jwks)
	case "/o/token/":
		js(200, map[string]any{"access_token": "ssf-token", "token_type": "Bearer", "expires_in": 3600})
	case "/o/introspect/":
		s.introspections.Add(1)
		_ = r.ParseForm()
		if s.dropIntrospection.Swap(false) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				s.t.Error(err)
				return
			}
			conn.Close()
			return
		}
		s.mu.Lock()
		ans, ok := s.active[r.PostForm.Get("token")]
		s.mu.Unlock()
		if !ok {
			ans = map[string]any{"active": false}
		}
		js(200, ans)
	case "/ssf/stream":
		switch r.Method {
		case "GET":
			js(200, []any{})
		case "POST":
			js(201, map[string]any{"stream_id": "s1", "aud": "guard-client", "events_delivered": []string{guard.EventSessionRevoked},
				"delivery": map[string]string{"method": guard.MethodPoll, "endpoint_url": iss + "/ssf/poll/s1"}})
		default:
			w.WriteHeader(204)
		}
	case "/ssf/status":
		js(200, map[string]string{"stream_id": "s1", "status": "enabled"})
	case "/ssf/poll/s1":
		var req struct {
			Ack     []string                     `json:"ack"`
			SetErrs map[string]map[string]string `json:"setErrs"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		s.mu.Lock()
		for _, j := range req.Ack {
			delete(s.queue, j)
		}
		for j, e := range req.SetErrs {
			delete(s.queue, j)
			s.errs[j] = e["err"]
		}
		s.mu.Unlock()
		deadline := time.After(s.pollWait)
		for {
			s.mu.Lock()
			sets, wake := map[string]string{}, s.wake
			for j, set := range s.queue {
				sets[j] = set
			}
			s.mu.Unlock()
			if len(sets) > 0 {
				js(200, map[string]any{"sets": sets, "moreAvailable": false})
				return
			}
			select {
			case <-wake:
			case <-deadline:
				js(200, map[string]any{"sets": map[string]string{}, "moreAvailable": false})
				return
			case <-r.Context().Done():
				return
			}
		}
	default:
		http.NotFound(w, r)
	}
}

// issue makes token active for sid/user/client.
func (s *standIn) issue(token, sid, user, client string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active[token] = map[string]any{"active": true, "token_type": "Bearer", "client_id": client, "username": user, "sub": user,
		"scope": "read", "sid": sid, "iss": s.URL, "exp": time.Now().Add(time.Hour).Unix()}
}

// revoke makes token inactive and queues a SET about subject, signed
// with key (the stand-in's own if nil).
func (s *standIn) revoke(token string, subject map[string]any, key jwk.Key) {
	s.t.Helper()
	if key == nil {
		key = s.key
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.active, token)
	s.seq++
	jti := fmt.Sprintf("jti-%d", s.seq)
	claims, _ := json.Marshal(map[string]any{"iss": s.URL, "aud": "guard-client", "iat": time.Now().Unix(), "jti": jti, "sub_id": subject,
		"events": map[string]any{guard.EventSessionRevoked: map[string]any{"event_timestamp": time.Now().Unix(), "initiating_entity": "admin"}}})
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.TypeKey, "secevent+jwt")
	_ = hdr.Set(jws.KeyIDKey, "k1")
	set, err := jws.Sign(claims, jws.WithKey(jwa.ES256(), key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		s.t.Fatal(err)
	}
	s.queue[jti] = string(set)
	close(s.wake)
	s.wake = make(chan struct{})
}

// acked reports whether every queued SET was acknowledged.
func (s *standIn) acked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) == 0
}

// startGuard runs a guard against the stand-in in front of an upstream
// that echoes the identity headers, until the test ends.
func startGuard(t testing.TB, s *standIn, stale time.Duration) (*guard.Guard, *httptest.Server) {
	t.Helper()
	return startGuardWith(t, s, guard.Config{StaleAfter: stale})
}

// startGuardWith is startGuard with more of the guard's Config set.
func startGuardWith(t testing.TB, s *standIn, cfg guard.Config) (*guard.Guard, *httptest.Server) {
	t.Helper()
	if cfg.Issuer == "" {
		cfg.Issuer = s.URL
	}
	cfg.ClientID, cfg.ClientSecret, cfg.StreamDescription = "guard-client", "secret", t.Name()
	g, err := guard.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	front := httptest.NewServer(g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, _ := guard.InfoFrom(r.Context())
		fmt.Fprint(w, info.Username)
	})))
	t.Cleanup(front.Close)
	waitFor(t, 5*time.Second, g.Healthy)
	return g, front
}

func waitFor(t testing.TB, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func status(t *testing.T, front *httptest.Server, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", front.URL, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestStandInSubjects: a session-revoked event drops what its subject
// names — the session, all of a user's sessions, a user's sessions at one
// client, a client's — and nothing else.
func TestStandInSubjects(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	_, front := startGuard(t, s, 30*time.Second)
	tests := []struct {
		name    string
		subject map[string]any
		gone    []string
	}{
		{"session", map[string]any{"format": "complex", "session": map[string]any{"format": "opaque", "id": "sidA1"},
			"user": map[string]any{"format": "iss_sub", "iss": s.URL, "sub": "alice"}, "application": map[string]any{"format": "opaque", "id": "app1"}},
			[]string{"a1"}},
		{"user at one client", map[string]any{"format": "complex", "user": map[string]any{"format": "iss_sub", "iss": s.URL, "sub": "alice"},
			"application": map[string]any{"format": "opaque", "id": "app2"}}, []string{"a3"}},
		{"user", map[string]any{"format": "complex", "user": map[string]any{"format": "iss_sub", "iss": s.URL, "sub": "alice"}}, []string{"a1", "a2", "a3"}},
		{"client", map[string]any{"format": "complex", "application": map[string]any{"format": "opaque", "id": "app1"}}, []string{"a1", "a2", "b1"}},
		{"another issuer's user", map[string]any{"format": "complex", "user": map[string]any{"format": "iss_sub", "iss": "https://elsewhere", "sub": "alice"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			all := map[string][3]string{"a1": {"sidA1", "alice", "app1"}, "a2": {"sidA2", "alice", "app1"}, "a3": {"sidA3", "alice", "app2"}, "b1": {"sidB1", "bob", "app1"}}
			for tok, v := range all {
				s.issue(tc.name+tok, v[0], v[1], v[2])
				if got := status(t, front, tc.name+tok); got != 200 {
					t.Fatalf("%s: got %d, want 200", tok, got)
				}
			}
			before := s.introspections.Load()
			s.revoke("", tc.subject, nil) // the stand-in's answers stay active: only the cache can refuse
			for tok := range all {
				s.issue(tc.name+tok, "x", "x", "x") // re-introspection would now show a different sid
			}
			waitFor(t, 2*time.Second, s.acked)
			for tok := range all {
				status(t, front, tc.name+tok)
			}
			if got := int(s.introspections.Load() - before); got != len(tc.gone) {
				t.Errorf("introspections after the event: got %d, want %d (one per dropped token %v)", got, len(tc.gone), tc.gone)
			}
		})
	}
}

// TestStandInForgedSET: a SET signed with a key not at jwks_uri is refused
// (setErrs invalid_key) and flushes the cache, since what it named cannot
// be known.
func TestStandInForgedSET(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	g, front := startGuard(t, s, 30*time.Second)
	s.issue("tok", "sid1", "alice", "app1")
	if status(t, front, "tok") != 200 || g.CachedEntries() != 1 {
		t.Fatal("the token is not cached")
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged, _ := jwk.Import(priv)
	s.revoke("other", map[string]any{"format": "complex", "session": map[string]any{"format": "opaque", "id": "nope"}}, forged)
	waitFor(t, 2*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.errs["jti-1"] == "invalid_key"
	})
	if n := g.CachedEntries(); n != 0 {
		t.Errorf("cached entries after a forged SET: got %d, want 0", n)
	}
}

// TestStandInIssuerCase: the issuer as an operator may spell it for both
// `latchkey serve --issuer` and the guard, "HTTP://…/". The server
// publishes it in normal form; the guard must still recognise its metadata
// and events, and so become healthy and cache.
func TestStandInIssuerCase(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	_, front := startGuardWith(t, s, guard.Config{Issuer: strings.Replace(s.URL, "http://", "HTTP://", 1) + "/"}) // waits for healthy
	s.issue("tok", "sid1", "alice", "app1")
	for range 3 {
		if got := status(t, front, "tok"); got != 200 {
			t.Fatalf("a live token: %d", got)
		}
	}
	if n := s.introspections.Load(); n != 1 {
		t.Errorf("introspections for 3 requests: %d, want 1 (cached while the stream is live)", n)
	}
}

// TestStandInFallback: with the SSF endpoints failing, after StaleAfter
// every request is introspected; when they recover, the cache is used again.
func TestStandInFallback(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	g, front := startGuard(t, s, 600*time.Millisecond)
	s.issue("tok", "sid1", "alice", "app1")
	for range 3 {
		status(t, front, "tok")
	}
	if n := s.introspections.Load(); n != 1 {
		t.Fatalf("introspections while live: got %d, want 1", n)
	}
	s.cut.Store(true)
	waitFor(t, 3*time.Second, func() bool { return !g.Healthy() })
	before := s.introspections.Load()
	for range 3 {
		status(t, front, "tok")
	}
	if n := s.introspections.Load() - before; n != 3 {
		t.Errorf("introspections while the stream is cut: got %d, want 3", n)
	}
	s.cut.Store(false)
	waitFor(t, 5*time.Second, g.Healthy)
	before = s.introspections.Load()
	for range 3 {
		status(t, front, "tok")
	}
	if n := s.introspections.Load() - before; n != 1 {
		t.Errorf("introspections after recovery: got %d, want 1 (the cache was flushed, then used)", n)
	}
}

// TestStandInLiveAcrossLongPolls: a long poll held longer than
// StaleAfter ends with nothing to deliver, and the next one starts; at no
// moment in between is the stream taken for dead, which would flush the
// cache and log a false alarm every PollTimeout.
func TestStandInLiveAcrossLongPolls(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	// Each poll is held longer than the bound; the status, read every
	// half second, keeps well inside it even on a loaded machine.
	s.pollWait = 2 * time.Second
	var logs syncBuffer
	g, _ := startGuardWith(t, s, guard.Config{StaleAfter: 1500 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	var dead atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !g.Healthy() {
					dead.Add(1)
				}
			}
		}()
	}
	time.Sleep(3*s.pollWait + s.pollWait/2)
	close(stop)
	wg.Wait()
	if n := dead.Load(); n != 0 || strings.Contains(logs.String(), "not live") {
		t.Errorf("across 3 long polls the stream was taken for dead %d times; log:\n%s", n, logs.String())
	}
}

// TestStandInIntrospectionRetried: the authorization server closes a
// kept-alive connection just as the guard sends an introspection on it
// (a restart, an idle timeout). Introspection only reads, so the guard's
// client sends it again on a new connection rather than failing the
// caller's request with 503.
func TestStandInIntrospectionRetried(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	// Introspection on a server of its own, through a transport with one
	// connection to it: the second introspection goes out on the first
	// one's connection, kept alive, as the case needs. (Net/http resends
	// only on a reused connection.)
	is := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(is.Close)
	u := is.URL + "/o/introspect/"
	s.introURL.Store(&u)
	one := &http.Transport{MaxConnsPerHost: 1}
	t.Cleanup(one.CloseIdleConnections)
	hc := &http.Client{Timeout: 10 * time.Second, Transport: byHost{is.Listener.Addr().String(): one}}
	_, front := startGuardWith(t, s, guard.Config{StaleAfter: 30 * time.Second, HTTPClient: hc})
	s.issue("tok1", "sid1", "alice", "app1")
	s.issue("tok2", "sid2", "alice", "app1")
	if code := status(t, front, "tok1"); code != 200 {
		t.Fatalf("first token: %d", code)
	}
	before := s.introspections.Load()
	s.dropIntrospection.Store(true)
	if code := status(t, front, "tok2"); code != 200 {
		t.Errorf("introspection whose connection was closed unanswered: got %d, want 200", code)
	}
	if n := s.introspections.Load() - before; n != 2 {
		t.Errorf("introspection requests seen: %d, want 2 (the dropped one and its retry)", n)
	}
}

// byHost sends requests for the hosts it names through their transports,
// and the rest through http.DefaultTransport.
type byHost map[string]http.RoundTripper

func (b byHost) RoundTrip(r *http.Request) (*http.Response, error) {
	if rt, ok := b[r.URL.Host]; ok {
		return rt.RoundTrip(r)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestStandInRefusals: RFC 6750 §3 answers, and 503 (fail closed) when
// the authorization server cannot be reached and nothing trusted is cached.
func TestStandInRefusals(t *testing.T) {
	t.Parallel()
	s := newStandIn(t)
	_, front := startGuard(t, s, 30*time.Second)
	do := func(authz ...string) (int, string, string) {
		req, _ := http.NewRequest("GET", front.URL, nil)
		for _, a := range authz {
			req.Header.Add("Authorization", a)
		}
		resp, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), resp.Header.Get("Retry-After")
	}
	tests := []struct {
		name      string
		authz     []string
		status    int
		challenge string
	}{
		{"no token", nil, 401, `Bearer realm="latchkey"`},
		{"another scheme", []string{"Basic YTpi"}, 401, `Bearer realm="latchkey"`},
		{"Bearer without a token", []string{"Bearer "}, 400, `Bearer realm="latchkey", error="invalid_request", error_description="send the token as Authorization: Bearer <token>"`},
		{"two headers", []string{"Bearer a", "Bearer b"}, 400, `Bearer realm="latchkey", error="invalid_request", error_description="send the token as Authorization: Bearer <token>"`},
		{"unknown token", []string{"Bearer nope"}, 401, `Bearer realm="latchkey", error="invalid_token", error_description="the access token is invalid, expired or revoked"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, challenge, _ := do(tc.authz...)
			if status != tc.status || challenge != tc.challenge {
				t.Errorf("got %d %q, want %d %q", status, challenge, tc.status, tc.challenge)
			}
		})
	}
	s.issue("refresh", "sid", "alice", "app")
	s.mu.Lock()
	s.active["refresh"]["token_type"] = "refresh_token"
	s.mu.Unlock()
	if status, _, _ := do("Bearer refresh"); status != 401 {
		t.Errorf("a refresh token as a bearer token: got %d, want 401", status)
	}
	s.CloseClientConnections()
	s.Close()
	if status, _, retry := do("Bearer whatever"); status != 503 || retry == "" {
		t.Errorf("authorization server down: got %d (Retry-After %q), want 503 with Retry-After", status, retry)
	}
}

// syncBuffer is a bytes.Buffer the guard's logger writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
