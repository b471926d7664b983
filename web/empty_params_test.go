package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestParametersWithoutAValueAreOmitted is RFC 6749 §3.1 and §3.2:
// "Parameters sent without a value MUST be treated as if they were omitted
// from the request." Client libraries send "client_secret=" for a public
// client and "redirect_uri=" when they have none (oauthlib does); each
// request below must do what the same request without the parameter does.
func TestParametersWithoutAValueAreOmitted(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	pub, conf := ts.f.Public, ts.f.Confidential
	basic := http.Header{"Authorization": {basicAuth(conf.ClientID, ts.f.Secret)}}

	t.Run("a public client revokes its token with client_secret=", func(t *testing.T) {
		cfg := oauth2.Config{ClientID: pub.ClientID, Endpoint: ts.endpoint()}
		tok, err := cfg.PasswordCredentialsToken(ts.ctx(), "alice", modelstest.Password)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := postForm(t, ts, "/o/revoke_token/", url.Values{"token": {tok.AccessToken}, "client_id": {pub.ClientID}, "client_secret": {""}}, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("got %d %v, want 200 as without client_secret", resp.StatusCode, body)
		}
		if status, _, _ := ts.me(t, tok.AccessToken); status != 401 {
			t.Errorf("/api/me after the revocation: %d, want 401", status)
		}
	})

	t.Run("a confidential client's client_secret= is still no secret", func(t *testing.T) {
		tok := ts.clientCredentials(t)
		resp, body := postForm(t, ts, "/o/revoke_token/", url.Values{"token": {tok.AccessToken}, "client_id": {conf.ClientID}, "client_secret": {""}}, nil)
		if resp.StatusCode != 401 || body["error"] != "invalid_client" {
			t.Fatalf("got %d %v, want 401 invalid_client", resp.StatusCode, body)
		}
		ts.assertActive(t, tok)
	})

	t.Run("HTTP Basic with client_secret= in the body", func(t *testing.T) {
		resp, body := postForm(t, ts, "/o/token/", url.Values{"grant_type": {"client_credentials"}, "client_secret": {""}}, basic)
		if resp.StatusCode != 200 || body["access_token"] == nil {
			t.Fatalf("token: got %d %v, want 200 with a token (one authentication method was used)", resp.StatusCode, body)
		}
		tok := &oauth2.Token{AccessToken: body["access_token"].(string)}
		ts.assertActive(t, tok)
		resp, body = postForm(t, ts, "/o/revoke_token/", url.Values{"token": {tok.AccessToken}, "client_secret": {""}}, basic)
		if resp.StatusCode != 200 {
			t.Fatalf("revoke: got %d %v, want 200", resp.StatusCode, body)
		}
		if status, _, _ := ts.me(t, tok.AccessToken); status != 401 {
			t.Errorf("/api/me after the revocation: %d, want 401", status)
		}
	})

	t.Run("scope= asks for the client's default scope", func(t *testing.T) {
		resp, body := postForm(t, ts, "/o/token/", url.Values{"grant_type": {"client_credentials"}, "scope": {""}}, basic)
		if resp.StatusCode != 200 || body["scope"] != "read write" {
			t.Fatalf("got %d %v, want 200 with scope \"read write\"", resp.StatusCode, body)
		}
	})

	t.Run("token= is a missing token", func(t *testing.T) {
		resp, body := postForm(t, ts, "/o/revoke_token/", url.Values{"token": {""}}, basic)
		if resp.StatusCode != 400 || body["error"] != "invalid_request" {
			t.Fatalf("got %d %v, want 400 invalid_request", resp.StatusCode, body)
		}
	})

	t.Run("a resource server's bearer with client_id= in the body", func(t *testing.T) {
		rs, err := ts.st.CreateClient(context.Background(), models.NewClient{Name: "Resource Server", Type: models.ClientConfidential,
			GrantTypes: []models.GrantType{models.GrantClientCredentials}, Introspect: true})
		if err != nil {
			t.Fatal(err)
		}
		cc := clientcredentials.Config{ClientID: rs.Client.ClientID, ClientSecret: rs.Secret, TokenURL: ts.URL + "/o/token/"}
		rsTok, err := cc.Token(ts.ctx())
		if err != nil {
			t.Fatal(err)
		}
		tok := ts.clientCredentials(t)
		resp, body := postForm(t, ts, "/o/introspect/", url.Values{"token": {tok.AccessToken}, "client_id": {""}, "client_secret": {""}},
			http.Header{"Authorization": {"Bearer " + rsTok.AccessToken}})
		if resp.StatusCode != 200 || body["active"] != true {
			t.Fatalf("got %d %v, want 200 active", resp.StatusCode, body)
		}
	})

	t.Run("the code grant with redirect_uri= when authorize had none", func(t *testing.T) {
		// The authorization request omits redirect_uri (the client has one
		// registered URI, §3.1.2.3), so the token request may omit it too
		// (§4.1.3): "redirect_uri=" is that.
		cfg := &oauth2.Config{ClientID: conf.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint(),
			RedirectURL: "http://127.0.0.1:9999/callback", Scopes: []string{"read"}}
		// "redirect_uri=" at /o/authorize too: the consent must still send
		// the browser to the registered URI (authorize checks it).
		code := authorize(t, ts, cfg, oauth2.SetAuthURLParam("redirect_uri", "")).Get("code")
		resp, body := postForm(t, ts, "/o/token/", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {""}}, basic)
		if resp.StatusCode != 200 || body["access_token"] == nil {
			t.Fatalf("got %d %v, want 200 with a token", resp.StatusCode, body)
		}
	})

	t.Run("authorize with redirect_uri= uses the one registered URI", func(t *testing.T) {
		b := newBrowser(t, ts)
		b.login("alice")
		path := "/o/authorize/?response_type=code&client_id=" + conf.ClientID + "&redirect_uri=&state=s9&scope="
		resp, html := b.get(path)
		if resp.StatusCode != 200 || !strings.Contains(html, "Authorize") {
			t.Fatalf("got %d, want the consent page:\n%s", resp.StatusCode, html)
		}
		form := formFields(t, html, "/o/authorize/")
		if form.Has("redirect_uri") || form.Has("scope") {
			t.Errorf("the consent form carries the empty parameters on: %v", form)
		}
		form.Set("decision", "allow")
		resp, _ = b.post("/o/authorize/", form)
		loc, err := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || err != nil || !strings.HasPrefix(loc.String(), "http://127.0.0.1:9999/callback?") {
			t.Fatalf("consent answer: %d %q, want the registered URI", resp.StatusCode, resp.Header.Get("Location"))
		}
		if loc.Query().Get("code") == "" || loc.Query().Get("state") != "s9" {
			t.Errorf("redirect query %v, want a code and state=s9", loc.Query())
		}
	})

	t.Run("a parameter given twice is refused even when one is empty", func(t *testing.T) {
		req, _ := http.NewRequest("POST", ts.URL+"/o/token/", strings.NewReader("grant_type=client_credentials&scope=&scope=read"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", basic.Get("Authorization"))
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(raw), "invalid_request") {
			t.Errorf("got %d %s, want 400 invalid_request", resp.StatusCode, raw)
		}
	})
}

// TestEncodedEndpointPathIsNotA405: a POST to a spelling of an OAuth
// endpoint the router does not match (/o/%74oken/) is a 404, not "405, use
// POST" for a request that used POST (RFC 9110 §15.5.6). Other methods
// there are still 405 with Allow.
func TestEncodedEndpointPathIsNotA405(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, tc := range []struct {
		method string
		want   int
	}{{"POST", 404}, {"GET", 405}, {"BREW", 405}} {
		req, _ := http.NewRequest(tc.method, ts.URL+"/o/%74oken/", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(ts.f.Confidential.ClientID, ts.f.Secret)
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s /o/%%74oken/: %d %s, want %d", tc.method, resp.StatusCode, raw, tc.want)
		}
		if allow := resp.Header.Get("Allow"); (tc.want == 405) != (allow == "POST") {
			t.Errorf("%s /o/%%74oken/: Allow %q", tc.method, allow)
		}
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s /o/%%74oken/: Content-Type %q, want JSON", tc.method, resp.Header.Get("Content-Type"))
		}
	}
}
