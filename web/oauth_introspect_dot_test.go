package web_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// dotIntrospect sends exactly what django-oauth-toolkit 1.7 sends as a
// resource server (oauth2_validators._get_token_from_authentication_server):
// requests.post(url, data={"token": token}, headers={"Authorization": …}),
// a form body of token alone, with python-requests' default headers.
func dotIntrospect(t *testing.T, ts *testServer, authz, token string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", ts.URL+"/o/introspect/", strings.NewReader("token="+url.QueryEscape(token)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "python-requests/2.28.1")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("introspection answered %d %q: %v", resp.StatusCode, raw, err)
	}
	return resp, body
}

// dotBasic is DOT's RESOURCE_SERVER_INTROSPECTION_CREDENTIALS header:
// base64 of "id:secret", not form-urlencoded.
func dotBasic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// TestIntrospectionAsDOT drives introspection the way a
// django-oauth-toolkit resource server does, with Basic credentials
// (RESOURCE_SERVER_INTROSPECTION_CREDENTIALS) and with a bearer token
// (RESOURCE_SERVER_AUTH_TOKEN). DOT ignores token_type and caches every
// active answer until exp (at most 10 h), so a refresh token reported
// active would work there as an access token.
func TestIntrospectionAsDOT(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	rs, err := ts.st.CreateClient(ctx, models.NewClient{Name: "DOT resource server", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantClientCredentials}, Introspect: true})
	if err != nil {
		t.Fatal(err)
	}
	rsConfig := clientcredentials.Config{ClientID: rs.Client.ClientID, ClientSecret: rs.Secret, TokenURL: ts.URL + "/o/token/"}
	rsToken := func(t *testing.T) *oauth2.Token {
		t.Helper()
		tok, err := rsConfig.Token(ts.ctx())
		if err != nil {
			t.Fatalf("resource server's client credentials: %v", err)
		}
		return tok
	}
	user := ts.passwordToken(t, "alice") // issued to the fixture's confidential client
	basic := dotBasic(rs.Client.ClientID, rs.Secret)
	bearer := "Bearer " + rsToken(t).AccessToken

	for _, tc := range []struct {
		name, authz string
	}{{"Basic", basic}, {"Bearer", bearer}} {
		t.Run(tc.name+": access token is active", func(t *testing.T) {
			resp, body := dotIntrospect(t, ts, tc.authz, user.AccessToken)
			if resp.StatusCode != 200 || body["active"] != true || body["username"] != "alice" || body["token_type"] != "Bearer" {
				t.Errorf("got %d %v", resp.StatusCode, body)
			}
		})
		t.Run(tc.name+": another client's refresh token is inactive", func(t *testing.T) {
			resp, body := dotIntrospect(t, ts, tc.authz, user.RefreshToken)
			if resp.StatusCode != 200 || body["active"] != false || len(body) != 1 {
				t.Errorf("got %d %v, want 200 and only active=false", resp.StatusCode, body)
			}
		})
	}
	t.Run("the resource server sees its own refresh token", func(t *testing.T) {
		// A client_credentials grant has no refresh token; use the password
		// grant's client introspecting its own token instead.
		_, body := dotIntrospect(t, ts, dotBasic(ts.f.Confidential.ClientID, ts.f.Secret), user.RefreshToken)
		if body["active"] != true || body["token_type"] != "refresh_token" {
			t.Errorf("got %v", body)
		}
	})

	// RFC 7662 §2.3: a bearer token that cannot authorize the call answers
	// as RFC 6750 §3 says, 401 invalid_token with a Bearer challenge.
	revoked := rsToken(t)
	if resp, _ := postForm(t, ts, "/o/revoke_token/", url.Values{"token": {revoked.AccessToken}},
		http.Header{"Authorization": {basicAuth(rs.Client.ClientID, rs.Secret)}}); resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	// A resource server registered for the password grant too holds a
	// refresh token of its own; that is no bearer credential either.
	rsWithUsers, err := ts.st.CreateClient(ctx, models.NewClient{Name: "resource server with users", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantPassword, models.GrantRefreshToken}, Introspect: true})
	if err != nil {
		t.Fatal(err)
	}
	rsUser, err := (&oauth2.Config{ClientID: rsWithUsers.Client.ClientID, ClientSecret: rsWithUsers.Secret, Endpoint: ts.endpoint()}).
		PasswordCredentialsToken(ts.ctx(), "alice", modelstest.Password)
	if err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name, authz string
	}{
		{"revoked bearer token", "Bearer " + revoked.AccessToken},
		{"unknown bearer token", "Bearer lk_at_nope"},
		{"a client's access token without --introspect", "Bearer " + user.AccessToken},
		{"another client's refresh token as the bearer token", "Bearer " + user.RefreshToken},
		{"a resource server's own refresh token as the bearer token", "Bearer " + rsUser.RefreshToken},
	}
	for _, tc := range refused {
		t.Run(tc.name+" is refused", func(t *testing.T) {
			resp, body := dotIntrospect(t, ts, tc.authz, user.AccessToken)
			ch := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != 401 || body["error"] != "invalid_token" || !strings.HasPrefix(ch, `Bearer realm="latchkey", error="invalid_token"`) {
				t.Errorf("got %d %v %q, want 401 invalid_token with a Bearer challenge", resp.StatusCode, body, ch)
			}
			if _, leaked := body["active"]; leaked {
				t.Errorf("a refused caller learned about the token: %v", body)
			}
		})
	}

	t.Run("Basic and Bearer together", func(t *testing.T) {
		resp, body := postForm(t, ts, "/o/introspect/", url.Values{"token": {user.AccessToken}},
			http.Header{"Authorization": {basic, bearer}})
		if resp.StatusCode != 400 || body["error"] != "invalid_request" {
			t.Errorf("got %d %v, want 400 invalid_request", resp.StatusCode, body)
		}
	})
	t.Run("Bearer and client credentials in the body", func(t *testing.T) {
		resp, body := postForm(t, ts, "/o/introspect/", url.Values{"token": {user.AccessToken},
			"client_id": {rs.Client.ClientID}, "client_secret": {rs.Secret}}, http.Header{"Authorization": {bearer}})
		if resp.StatusCode != 400 || body["error"] != "invalid_request" {
			t.Errorf("got %d %v, want 400 invalid_request", resp.StatusCode, body)
		}
	})
	t.Run("Bearer of a disabled resource server", func(t *testing.T) {
		gone, err := ts.st.CreateClient(ctx, models.NewClient{Name: "retired resource server", Type: models.ClientConfidential,
			GrantTypes: []models.GrantType{models.GrantClientCredentials}, Introspect: true})
		if err != nil {
			t.Fatal(err)
		}
		cfg := clientcredentials.Config{ClientID: gone.Client.ClientID, ClientSecret: gone.Secret, TokenURL: ts.URL + "/o/token/"}
		tok, err := cfg.Token(ts.ctx())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.st.DisableClient(ctx, gone.Client.ID, models.StaffAction{Actor: models.System(), Reason: "retired"}); err != nil {
			t.Fatal(err)
		}
		resp, body := dotIntrospect(t, ts, "Bearer "+tok.AccessToken, user.AccessToken)
		if resp.StatusCode != 401 || body["error"] != "invalid_token" {
			t.Errorf("got %d %v", resp.StatusCode, body)
		}
	})
}

// TestIntrospectionSid checks sid, the grant's public id: the same for
// every token of one grant and across a refresh, different between grants,
// random rather than the row id.
func TestIntrospectionSid(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	asOwner := dotBasic(ts.f.Confidential.ClientID, ts.f.Secret)
	sid := func(t *testing.T, raw string) string {
		t.Helper()
		_, body := dotIntrospect(t, ts, asOwner, raw)
		s, _ := body["sid"].(string)
		if body["active"] != true || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(s) {
			t.Fatalf("got %v, want an active answer with a 32-hex-digit sid", body)
		}
		return s
	}
	first := ts.passwordToken(t, "alice")
	access, refresh := sid(t, first.AccessToken), sid(t, first.RefreshToken)
	if access != refresh {
		t.Errorf("access and refresh token of one grant: sid %q and %q", access, refresh)
	}
	cfg := oauth2.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint()}
	expired := *first
	expired.Expiry = time.Now().Add(-time.Minute) // x/oauth2 refreshes an expired token
	next, err := cfg.TokenSource(ts.ctx(), &expired).Token()
	if err != nil || next.AccessToken == first.AccessToken {
		t.Fatalf("refresh: %v", err)
	}
	if got := sid(t, next.AccessToken); got != access {
		t.Errorf("after a refresh: sid %q, want the grant's %q", got, access)
	}
	second := ts.passwordToken(t, "alice")
	other := sid(t, second.AccessToken)
	if other == access {
		t.Errorf("two grants share sid %q", other)
	}
}
