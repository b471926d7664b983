package web_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"golang.org/x/oauth2"
)

func TestClientCredentialsGrant(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.clientCredentials(t)
	if !strings.HasPrefix(tok.AccessToken, models.PrefixAccessToken) {
		t.Errorf("access token %q lacks prefix %q", tok.AccessToken[:6], models.PrefixAccessToken)
	}
	if tok.RefreshToken != "" {
		t.Errorf("client_credentials issued a refresh token (RFC 6749 §4.4.3 says it should not)")
	}
	if tok.Expiry.IsZero() || time.Until(tok.Expiry) > time.Hour+time.Minute {
		t.Errorf("expiry %v, want about an hour", tok.Expiry)
	}
	status, body, _ := ts.me(t, tok.AccessToken)
	if status != 200 || body["client_id"] != ts.f.Confidential.ClientID || body["user"] != nil || body["scope"] != "read write" {
		t.Errorf("/api/me: got %d %v", status, body)
	}
}

func TestPasswordGrant(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	if !strings.HasPrefix(tok.RefreshToken, models.PrefixRefreshToken) {
		t.Fatalf("no refresh token")
	}
	status, body, _ := ts.me(t, tok.AccessToken)
	if status != 200 || body["user"] != "alice" {
		t.Errorf("/api/me: got %d %v", status, body)
	}
	cfg := oauth2.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint()}
	_, err := cfg.PasswordCredentialsToken(ts.ctx(), "alice", "wrong password")
	assertRetrieveError(t, err, "invalid_grant")
}

// authorize drives the real login and consent forms with a cookie-jar
// client and returns the code the redirect carries (and its query).
func authorize(t *testing.T, ts *testServer, cfg *oauth2.Config, opts ...oauth2.AuthCodeOption) url.Values {
	t.Helper()
	b := newBrowser(t, ts)
	resp, _ := b.get(cfg.AuthCodeURL("xyz-state", opts...))
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Fatalf("anonymous authorize: got %d %q, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	next := resp.Header.Get("Location")
	_, html := b.get(next)
	form := formFields(t, html, "/login")
	form.Set("username", "alice")
	form.Set("password", "correct horse battery")
	resp, _ = b.post("/login", form)
	back := resp.Header.Get("Location")
	if !strings.HasPrefix(back, "/o/authorize/") {
		t.Fatalf("login did not send us back to authorize: %q", back)
	}
	resp, html = b.get(back)
	if resp.StatusCode != 200 || !strings.Contains(html, "Authorize") {
		t.Fatalf("consent page: %d\n%s", resp.StatusCode, html)
	}
	form = formFields(t, html, "/o/authorize/")
	form.Set("decision", "allow")
	resp, _ = b.post("/o/authorize/", form)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil {
		t.Fatalf("consent answer: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !strings.HasPrefix(loc.String(), cfg.RedirectURL) {
		t.Fatalf("redirected to %q, want %q", loc, cfg.RedirectURL)
	}
	return loc.Query()
}

func TestAuthorizationCodeGrantWithPKCE(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, tc := range []struct {
		name   string
		client *models.Client
		secret string
	}{
		{"public client", ts.f.Public, ""},
		{"confidential client", ts.f.Confidential, ts.f.Secret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &oauth2.Config{ClientID: tc.client.ClientID, ClientSecret: tc.secret, Endpoint: ts.endpoint(),
				RedirectURL: "http://127.0.0.1:9999/callback", Scopes: []string{"read"}}
			verifier := oauth2.GenerateVerifier()
			q := authorize(t, ts, cfg, oauth2.S256ChallengeOption(verifier))
			if q.Get("state") != "xyz-state" || q.Get("iss") != ts.URL {
				t.Errorf("redirect query: state %q iss %q", q.Get("state"), q.Get("iss"))
			}
			code := q.Get("code")
			if !strings.HasPrefix(code, models.PrefixCode) {
				t.Fatalf("code %q lacks prefix", code)
			}
			tok, err := cfg.Exchange(ts.ctx(), code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("exchange: %v", err)
			}
			if tok.Extra("scope") != "read" || tok.RefreshToken == "" {
				t.Errorf("scope %v, refresh %q", tok.Extra("scope"), tok.RefreshToken)
			}
			if status, body, _ := ts.me(t, tok.AccessToken); status != 200 || body["user"] != "alice" {
				t.Errorf("/api/me: %d %v", status, body)
			}
			// A code works once (RFC 6749 §4.1.2); the second use also
			// revokes what the first one issued.
			_, err = cfg.Exchange(ts.ctx(), code, oauth2.VerifierOption(verifier))
			assertRetrieveError(t, err, "invalid_grant")
			if status, _, _ := ts.me(t, tok.AccessToken); status != 401 {
				t.Errorf("after code reuse, the first token still works: %d", status)
			}
		})
	}
}

func TestAuthorizationCodeRefusals(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	pub := &oauth2.Config{ClientID: ts.f.Public.ClientID, Endpoint: ts.endpoint(), RedirectURL: "http://127.0.0.1:9999/callback"}

	t.Run("public client without PKCE", func(t *testing.T) {
		b := newBrowser(t, ts)
		b.login("alice")
		resp, _ := b.get(pub.AuthCodeURL("s1"))
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("state") != "s1" {
			t.Errorf("got %d %q, want a redirect with error=invalid_request&state=s1", resp.StatusCode, loc)
		}
	})
	t.Run("wrong code_verifier", func(t *testing.T) {
		q := authorize(t, ts, pub, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
		_, err := pub.Exchange(ts.ctx(), q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier()))
		assertRetrieveError(t, err, "invalid_grant")
	})
	t.Run("no code_verifier", func(t *testing.T) {
		q := authorize(t, ts, pub, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
		_, err := pub.Exchange(ts.ctx(), q.Get("code"))
		assertRetrieveError(t, err, "invalid_grant")
	})
	t.Run("wrong redirect URI is shown, not followed", func(t *testing.T) {
		b := newBrowser(t, ts)
		b.login("alice")
		evil := *pub
		evil.RedirectURL = "https://evil.example/callback"
		resp, body := b.get(evil.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, "redirect_uri") {
			t.Errorf("got %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("redirect URI differs at the token endpoint", func(t *testing.T) {
		v := oauth2.GenerateVerifier()
		q := authorize(t, ts, pub, oauth2.S256ChallengeOption(v))
		other := *pub
		other.RedirectURL = "http://127.0.0.1:9999/other"
		_, err := other.Exchange(ts.ctx(), q.Get("code"), oauth2.VerifierOption(v))
		assertRetrieveError(t, err, "invalid_grant")
	})
	t.Run("unknown client is shown, not redirected", func(t *testing.T) {
		b := newBrowser(t, ts)
		resp, _ := b.get("/o/authorize/?response_type=code&client_id=nope&redirect_uri=http%3A%2F%2F127.0.0.1%3A9999%2Fcallback")
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
			t.Errorf("got %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("user denies", func(t *testing.T) {
		b := newBrowser(t, ts)
		b.login("alice")
		_, html := b.get(pub.AuthCodeURL("s2", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		form := formFields(t, html, "/o/authorize/")
		form.Set("decision", "deny")
		resp, _ := b.post("/o/authorize/", form)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" {
			t.Errorf("got %q", loc)
		}
	})
	t.Run("scope beyond the client's", func(t *testing.T) {
		b := newBrowser(t, ts)
		b.login("alice")
		wide := *pub
		wide.Scopes = []string{"read", "admin"}
		resp, _ := b.get(wide.AuthCodeURL("s3", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if loc.Query().Get("error") != "invalid_scope" {
			t.Errorf("got %q", loc)
		}
	})
}

func TestRefreshRotation(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	cfg := oauth2.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint()}
	first := ts.passwordToken(t, "alice")
	other := ts.passwordToken(t, "alice") // a second, independent grant

	refresh := func(rt string) (*oauth2.Token, error) {
		return cfg.TokenSource(ts.ctx(), &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
	}
	second, err := refresh(first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if second.RefreshToken == first.RefreshToken || second.RefreshToken == "" {
		t.Fatalf("refresh did not rotate the refresh token")
	}
	if status, _, _ := ts.me(t, first.AccessToken); status != 401 {
		t.Errorf("the access token issued before the refresh still works: %d", status)
	}
	if status, _, _ := ts.me(t, second.AccessToken); status != 200 {
		t.Errorf("the new access token: %d", status)
	}

	// The rotated-away refresh token, presented again, is refused — and,
	// being reuse, revokes the whole grant (RFC 9700 §4.14.2).
	_, err = refresh(first.RefreshToken)
	assertRetrieveError(t, err, "invalid_grant")
	if status, _, _ := ts.me(t, second.AccessToken); status != 401 {
		t.Errorf("after reuse, the grant's newest access token still works: %d", status)
	}
	_, err = refresh(second.RefreshToken)
	assertRetrieveError(t, err, "invalid_grant")
	_, err = refresh(first.RefreshToken) // replayed again: no second event
	assertRetrieveError(t, err, "invalid_grant")
	if status, _, _ := ts.me(t, other.AccessToken); status != 200 {
		t.Errorf("another grant of the same user and client was touched: %d", status)
	}
	events, err := ts.st.AuditEvents(context.Background(), models.AuditFilter{Action: models.ActionRefreshReuse}, models.Cursor{}, 10)
	if err != nil || len(events.Rows) != 1 || events.Rows[0].Reason != "refresh token reuse" {
		t.Errorf("reuse audit events: %+v, %v", events, err)
	}
}

func TestRefreshScope(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	narrow := func(scope, rt string) (*http.Response, map[string]any) {
		return postForm(t, ts, "/o/token/", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {scope},
			"client_id": {ts.f.Confidential.ClientID}, "client_secret": {ts.f.Secret}}, nil)
	}
	resp, body := narrow("read admin", tok.RefreshToken)
	if resp.StatusCode != 400 || body["error"] != "invalid_scope" {
		t.Fatalf("widening: %d %v", resp.StatusCode, body)
	}
	resp, body = narrow("read", tok.RefreshToken)
	if resp.StatusCode != 200 || body["scope"] != "read" {
		t.Fatalf("narrowing: %d %v", resp.StatusCode, body)
	}
	// Once narrowed, a refresh cannot widen the scope back.
	resp, body = narrow("read write", body["refresh_token"].(string))
	if resp.StatusCode != 400 || body["error"] != "invalid_scope" {
		t.Fatalf("widening back after narrowing: %d %v", resp.StatusCode, body)
	}
}

func TestNoSecretInDatabaseFile(t *testing.T) {
	t.Parallel()
	modelstest.SkipOnPostgres(t)
	ts := newTestServer(t)
	cc := ts.clientCredentials(t)
	pw := ts.passwordToken(t, "alice")
	cfg := &oauth2.Config{ClientID: ts.f.Public.ClientID, Endpoint: ts.endpoint(), RedirectURL: "http://127.0.0.1:9999/callback"}
	v := oauth2.GenerateVerifier()
	code := authorize(t, ts, cfg, oauth2.S256ChallengeOption(v)).Get("code")
	ac, err := cfg.Exchange(ts.ctx(), code, oauth2.VerifierOption(v))
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{
		"client secret": ts.f.Secret, "cc access": cc.AccessToken, "password access": pw.AccessToken,
		"password refresh": pw.RefreshToken, "code": code, "code access": ac.AccessToken, "code refresh": ac.RefreshToken,
	}
	// Checkpoint nothing: read the main file and the WAL as they are, since
	// either may hold the newest pages.
	var all []byte
	for _, suffix := range []string{"", "-wal", "-shm"} {
		b, err := os.ReadFile(ts.db + suffix)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	if len(all) < 4096 {
		t.Fatalf("database files hold only %d bytes; wrong path %s?", len(all), filepath.Base(ts.db))
	}
	for name, s := range secrets {
		if s == "" {
			t.Fatalf("%s is empty", name)
		}
		if bytes.Contains(all, []byte(s)) {
			t.Errorf("the raw %s is in the database file", name)
		}
		// The random part alone must not be there either.
		if i := strings.LastIndex(s, "_"); i > 0 && bytes.Contains(all, []byte(s[i+1:])) && len(s[i+1:]) > 20 {
			t.Errorf("the random part of the %s is in the database file", name)
		}
	}
	// The hashes are there: the check above looks at the right bytes.
	if !bytes.Contains(all, models.TokenKey(cc.AccessToken)) {
		t.Errorf("the access token's hash is not in the file; the test reads the wrong bytes")
	}
}

// assertRetrieveError checks that x/oauth2 got an RFC error with code.
func assertRetrieveError(t testing.TB, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("got %v, want *oauth2.RetrieveError %s", err, code)
	}
	if re.ErrorCode != code {
		t.Errorf("error code: got %q, want %q (%s)", re.ErrorCode, code, re.ErrorDescription)
	}
	if re.Response.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("error without Cache-Control: no-store")
	}
}
