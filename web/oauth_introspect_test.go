package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
)

func TestIntrospection(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	rs, err := ts.st.CreateClient(ctx, models.NewClient{Name: "Resource Server", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantClientCredentials}, Introspect: true})
	if err != nil {
		t.Fatal(err)
	}
	tok := ts.passwordToken(t, "alice")
	asRS := http.Header{"Authorization": {basicAuth(rs.Client.ClientID, rs.Secret)}}

	t.Run("active access token, all fields", func(t *testing.T) {
		resp, body := postForm(t, ts, "/o/introspect/", url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}, asRS)
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("got %d, Cache-Control %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		want := map[string]any{"active": true, "token_type": "Bearer", "scope": "read write", "client_id": ts.f.Confidential.ClientID,
			"username": "alice", "sub": "alice", "iss": ts.URL}
		for k, v := range want {
			if body[k] != v {
				t.Errorf("%s: got %v, want %v", k, body[k], v)
			}
		}
		exp, _ := body["exp"].(float64)
		iat, _ := body["iat"].(float64)
		if d := time.Unix(int64(exp), 0).Sub(time.Unix(int64(iat), 0)); d != time.Hour {
			t.Errorf("exp - iat = %v, want 1h", d)
		}
	})
	t.Run("another client's refresh token is inactive to a resource server", func(t *testing.T) {
		_, body := postForm(t, ts, "/o/introspect", url.Values{"token": {tok.RefreshToken}}, asRS)
		if body["active"] != false || len(body) != 1 {
			t.Errorf("got %v, want only active=false", body)
		}
	})
	t.Run("a client sees its own refresh token", func(t *testing.T) {
		_, body := postForm(t, ts, "/o/introspect", url.Values{"token": {tok.RefreshToken}, "client_id": {ts.f.Confidential.ClientID}, "client_secret": {ts.f.Secret}}, nil)
		if body["active"] != true || body["token_type"] != "refresh_token" {
			t.Errorf("got %v", body)
		}
	})
	t.Run("a client introspects its own token", func(t *testing.T) {
		_, body := postForm(t, ts, "/o/introspect/", url.Values{"token": {tok.AccessToken}, "client_id": {ts.f.Confidential.ClientID}, "client_secret": {ts.f.Secret}}, nil)
		if body["active"] != true {
			t.Errorf("got %v", body)
		}
	})
	t.Run("another client's token is inactive to a client without --introspect", func(t *testing.T) {
		_, body := postForm(t, ts, "/o/introspect/", url.Values{"token": {tok.AccessToken}, "client_id": {ts.f.Other.ClientID}, "client_secret": {ts.f.OtherSecret}}, nil)
		if body["active"] != false || len(body) != 1 {
			t.Errorf("got %v, want only active=false", body)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		_, body := postForm(t, ts, "/o/introspect/", url.Values{"token": {"lk_at_nope"}}, asRS)
		if body["active"] != false || len(body) != 1 {
			t.Errorf("got %v", body)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		resp, body := postForm(t, ts, "/o/introspect/", url.Values{"token": {tok.AccessToken}},
			http.Header{"Authorization": {basicAuth(rs.Client.ClientID, "lk_cs_wrong")}})
		if resp.StatusCode != 401 || body["error"] != "invalid_client" || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("got %d %v", resp.StatusCode, body)
		}
	})
	t.Run("public client", func(t *testing.T) {
		resp, body := postForm(t, ts, "/o/introspect/", url.Values{"token": {tok.AccessToken}, "client_id": {ts.f.Public.ClientID}}, nil)
		if resp.StatusCode != 401 || body["error"] != "invalid_client" {
			t.Errorf("got %d %v", resp.StatusCode, body)
		}
	})
	t.Run("records last use", func(t *testing.T) {
		info, err := ts.st.ActiveToken(ctx, tok.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			g, err := ts.st.GrantByID(ctx, info.Token.GrantID)
			if err != nil {
				t.Fatal(err)
			}
			if g.LastUsedAt != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("introspection and /api/me never recorded the grant's last use")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestProtectedResource(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.clientCredentials(t)
	for _, tc := range []struct {
		name          string
		authz         string
		wantStatus    int
		wantChallenge string
	}{
		{"valid token", "Bearer " + tok.AccessToken, 200, ""},
		{"scheme in lower case", "bearer " + tok.AccessToken, 200, ""},
		{"no credentials", "", 401, `Bearer realm="latchkey"`},
		{"unknown token", "Bearer lk_at_nope", 401, `Bearer realm="latchkey", error="invalid_token", error_description="the access token is invalid, expired or revoked"`},
		{"Basic instead of Bearer (RFC 6750 §3.1: an unsupported method, no error code)", "Basic abc", 401, `Bearer realm="latchkey"`},
		{"Bearer without a token", "Bearer ", 400, `Bearer realm="latchkey", error="invalid_request", error_description="send the token as Authorization: Bearer <token>"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+"/api/me", nil)
			if tc.authz != "" {
				req.Header.Set("Authorization", tc.authz)
			}
			resp, err := ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || resp.Header.Get("WWW-Authenticate") != tc.wantChallenge {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.wantStatus, tc.wantChallenge)
			}
		})
	}
}
