package web_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
	"golang.org/x/oauth2"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestMetadata compares RFC 8414 metadata with testdata/metadata.golden
// (the issuer replaced by ISSUER). Regenerate with -update.
func TestMetadata(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, path := range []string{"/.well-known/oauth-authorization-server"} {
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var v map[string]any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		if v["issuer"] != ts.URL {
			t.Errorf("issuer: got %v, want %s", v["issuer"], ts.URL)
		}
		pretty, _ := json.MarshalIndent(v, "", "  ")
		got := bytes.ReplaceAll(pretty, []byte(ts.URL), []byte("ISSUER"))
		golden := "testdata/metadata.golden"
		if *update {
			if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test -run TestMetadata -update ./web)", err)
		}
		if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
			t.Errorf("metadata differs from %s:\n%s", golden, got)
		}
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := ts.Client().Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
	time.Sleep(1100 * time.Millisecond) // a success is reused for a second
	ts.st.Close()                       // the database goes away
	resp, err := ts.Client().Get(ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("/readyz without a database: %d, want 503", resp.StatusCode)
	}
}

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNoSecretInLogs runs successful and failing requests with debug
// logging on and checks that no token, secret or password reaches the log.
func TestNoSecretInLogs(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	ts := startServer(t, st, f, web.Config{}, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))

	tok := ts.passwordToken(t, "alice")
	ts.me(t, tok.AccessToken)
	ts.me(t, "lk_at_"+strings.Repeat("x", 43))
	cfg := oauth2.Config{ClientID: f.Confidential.ClientID, ClientSecret: f.Secret, Endpoint: ts.endpoint()}
	_, _ = cfg.PasswordCredentialsToken(ts.ctx(), "alice", "a wrong password")
	postForm(t, ts, "/o/token/?client_secret="+f.Secret, url.Values{"grant_type": {"client_credentials"}}, nil)
	postForm(t, ts, "/o/token/", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
		"client_id": {f.Other.ClientID}, "client_secret": {f.OtherSecret}}, nil)
	postForm(t, ts, "/o/revoke_token/", url.Values{"token": {tok.AccessToken}, "client_id": {f.Other.ClientID}, "client_secret": {f.OtherSecret}}, nil)
	postForm(t, ts, "/o/revoke_token/", url.Values{"token": {tok.AccessToken}, "client_id": {f.Confidential.ClientID}, "client_secret": {"lk_cs_wrong"}}, nil)
	postForm(t, ts, "/o/revoke_token/", url.Values{"token": {tok.AccessToken}, "client_id": {f.Confidential.ClientID}, "client_secret": {f.Secret}}, nil)
	b := newBrowser(t, ts)
	b.login("alice")
	b.post("/login", url.Values{"username": {"alice"}, "password": {"a wrong password"}})
	ts.st.Close()
	postForm(t, ts, "/o/revoke_token/", url.Values{"token": {tok.RefreshToken}, "client_id": {f.Confidential.ClientID}, "client_secret": {f.Secret}}, nil)
	req, _ := http.NewRequest("GET", ts.URL+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	if resp, err := ts.Client().Do(req); err == nil {
		resp.Body.Close()
	}

	out := logs.String()
	if !strings.Contains(out, `"status":401`) || !strings.Contains(out, `"status":503`) {
		t.Fatalf("the log does not show the requests; the test reads the wrong thing:\n%s", out)
	}
	for name, secret := range map[string]string{
		"access token": tok.AccessToken, "refresh token": tok.RefreshToken, "client secret": f.Secret,
		"other secret": f.OtherSecret, "password": modelstest.Password, "wrong password": "a wrong password",
	} {
		if strings.Contains(out, secret) {
			t.Errorf("the log holds the %s", name)
		}
	}
}

// TestMetricsCountUnknownTokens: a revocation of an unknown token writes no
// audit event (RFC 7009 §2.2 answers 200), and is counted at /metrics.
func TestMetricsCountUnknownTokens(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for range 2 {
		resp, _ := postForm(t, ts, "/o/revoke_token/", url.Values{"token": {"lk_at_unknown"},
			"client_id": {ts.f.Confidential.ClientID}, "client_secret": {ts.f.Secret}}, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
	}
	resp, err := ts.Client().Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "\nlatchkey_revocations_unknown_token_total 2\n") {
		t.Errorf("/metrics:\n%s", body)
	}
	if c := ts.counts(t); c.AuditEvents != 0 {
		t.Errorf("unknown tokens wrote %d audit events", c.AuditEvents)
	}
}
