package web_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestMalformedRequests sends requests a careless or hostile client might,
// and checks each gets the documented 4xx with an RFC error — never a 5xx —
// and that none of them wrote anything.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	id, secret := ts.f.Confidential.ClientID, ts.f.Secret
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	cc := "grant_type=client_credentials&client_id=" + id + "&client_secret=" + secret
	const form = "application/x-www-form-urlencoded"
	cb := url.QueryEscape("http://127.0.0.1:9999/callback")
	pub := ts.f.Public.ClientID
	authz := "/o/authorize/?client_id=" + pub + "&redirect_uri=" + cb

	tests := []struct {
		name        string
		method      string
		path        string
		ctype       string
		body        string
		hdr         map[string]string
		wantStatus  int
		wantError   string // JSON "error", or the error= of a redirect
		wantHeader  map[string]string
		wantRedirct bool // the error goes back to the client's redirect URI
	}{
		{"token: GET", "GET", "/o/token/", "", "", nil, 405, "invalid_request", map[string]string{"Allow": "POST"}, false},
		{"token: PUT without slash", "PUT", "/o/token", form, cc, nil, 405, "invalid_request", map[string]string{"Allow": "POST"}, false},
		{"token: text/plain body", "POST", "/o/token/", "text/plain", cc, nil, 400, "invalid_request", nil, false},
		{"token: JSON body", "POST", "/o/token/", "application/json", `{"grant_type":"client_credentials"}`, nil, 400, "invalid_request", nil, false},
		{"token: no content type", "POST", "/o/token/", "", cc, nil, 400, "invalid_request", nil, false},
		{"token: parameters in the query string", "POST", "/o/token/?client_secret=" + secret, form, cc, nil, 400, "invalid_request", nil, false},
		{"token: grant_type twice", "POST", "/o/token/", form, cc + "&grant_type=password", nil, 400, "invalid_request", nil, false},
		{"token: client_id twice", "POST", "/o/token/", form, cc + "&client_id=" + id, nil, 400, "invalid_request", nil, false},
		{"token: missing grant_type", "POST", "/o/token/", form, "client_id=" + id + "&client_secret=" + secret, nil, 400, "invalid_request", nil, false},
		{"token: unknown grant_type", "POST", "/o/token/", form, "grant_type=implicit&client_id=" + id + "&client_secret=" + secret, nil, 400, "unsupported_grant_type", nil, false},
		{"token: no client authentication", "POST", "/o/token/", form, "grant_type=client_credentials", nil, 401, "invalid_client", map[string]string{"WWW-Authenticate": `Basic realm="latchkey"`}, false},
		{"token: wrong secret in body", "POST", "/o/token/", form, "grant_type=client_credentials&client_id=" + id + "&client_secret=lk_cs_wrong", nil, 401, "invalid_client", nil, false},
		{"token: unknown client", "POST", "/o/token/", form, "grant_type=client_credentials&client_id=nobody&client_secret=x", nil, 401, "invalid_client", nil, false},
		{"token: Basic header not base64", "POST", "/o/token/", form, "grant_type=client_credentials", map[string]string{"Authorization": "Basic !!!notbase64"}, 401, "invalid_client", map[string]string{"WWW-Authenticate": `Basic realm="latchkey"`}, false},
		{"token: Basic header without colon", "POST", "/o/token/", form, "grant_type=client_credentials", map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(id))}, 401, "invalid_client", nil, false},
		{"token: Basic with bad percent-encoding", "POST", "/o/token/", form, "grant_type=client_credentials", map[string]string{"Authorization": basic(id, "%zz")}, 401, "invalid_client", nil, false},
		{"token: Basic and a body secret", "POST", "/o/token/", form, "grant_type=client_credentials&client_secret=" + secret, map[string]string{"Authorization": basic(id, secret)}, 400, "invalid_request", nil, false},
		{"token: Bearer instead of Basic", "POST", "/o/token/", form, "grant_type=client_credentials", map[string]string{"Authorization": "Bearer abc"}, 401, "invalid_client", nil, false},
		{"token: oversized body", "POST", "/o/token/", form, cc + "&pad=" + strings.Repeat("a", 65<<10), nil, 413, "invalid_request", nil, false},
		{"token: body not form-encoded", "POST", "/o/token/", form, cc + "&x=%zz", nil, 400, "invalid_request", nil, false},
		{"token: code grant without code", "POST", "/o/token/", form, "grant_type=authorization_code&client_id=" + id + "&client_secret=" + secret, nil, 400, "invalid_request", nil, false},
		{"token: unknown code", "POST", "/o/token/", form, "grant_type=authorization_code&code=lk_ac_nope&client_id=" + id + "&client_secret=" + secret, nil, 400, "invalid_grant", nil, false},
		{"token: refresh without refresh_token", "POST", "/o/token/", form, "grant_type=refresh_token&client_id=" + id + "&client_secret=" + secret, nil, 400, "invalid_request", nil, false},
		{"token: unknown refresh token", "POST", "/o/token/", form, "grant_type=refresh_token&refresh_token=lk_rt_nope&client_id=" + id + "&client_secret=" + secret, nil, 400, "invalid_grant", nil, false},
		{"token: password without username", "POST", "/o/token/", form, "grant_type=password&password=x&client_id=" + id + "&client_secret=" + secret, nil, 400, "invalid_request", nil, false},
		{"token: grant the client is not registered for", "POST", "/o/token/", form, "grant_type=client_credentials&client_id=" + pub, nil, 400, "unauthorized_client", nil, false},
		{"token: public client sends a secret", "POST", "/o/token/", form, "grant_type=password&username=alice&password=x&client_id=" + pub + "&client_secret=guess", nil, 401, "invalid_client", nil, false},
		{"token: scope beyond the client's", "POST", "/o/token/", form, cc + "&scope=admin", nil, 400, "invalid_scope", nil, false},
		{"token: client_id not UTF-8", "POST", "/o/token/", form, "grant_type=client_credentials&client_id=%FF&client_secret=x", nil, 400, "invalid_request", nil, false},
		{"token: NUL in username", "POST", "/o/token/", form, cc + "&username=a%00b", nil, 400, "invalid_request", nil, false},
		{"token: Basic id with a NUL", "POST", "/o/token/", form, "grant_type=client_credentials", map[string]string{"Authorization": basic("%00", "x")}, 401, "invalid_client", nil, false},
		{"authorize: client_id with a NUL", "GET", "/o/authorize/?response_type=code&client_id=%00", "", "", nil, 400, "", nil, false},
		{"token: Authorization header twice", "POST", "/o/token/", form, "grant_type=client_credentials", map[string]string{"Authorization": basic(id, secret), "X-Dup": "1"}, 400, "invalid_request", nil, false},
		{"authorize: no client_id", "GET", "/o/authorize/?response_type=code", "", "", nil, 400, "", nil, false},
		{"authorize: unknown client", "GET", "/o/authorize/?response_type=code&client_id=nobody", "", "", nil, 400, "", nil, false},
		{"authorize: unregistered redirect URI", "GET", "/o/authorize/?response_type=code&client_id=" + pub + "&redirect_uri=https%3A%2F%2Fevil.example%2F", "", "", nil, 400, "", nil, false},
		{"authorize: client_id twice", "GET", authz + "&client_id=" + pub + "&response_type=code", "", "", nil, 400, "", nil, false},
		{"authorize: response_type=token", "GET", authz + "&response_type=token", "", "", nil, 303, "unsupported_response_type", nil, true},
		{"authorize: missing response_type", "GET", authz, "", "", nil, 303, "invalid_request", nil, true},
		{"authorize: PKCE plain", "GET", authz + "&response_type=code&code_challenge=" + strings.Repeat("a", 43) + "&code_challenge_method=plain", "", "", nil, 303, "invalid_request", nil, true},
		{"authorize: malformed code_challenge", "GET", authz + "&response_type=code&code_challenge=short&code_challenge_method=S256", "", "", nil, 303, "invalid_request", nil, true},
		{"authorize: state twice", "GET", authz + "&response_type=code&state=a&state=b", "", "", nil, 303, "invalid_request", nil, true},
		{"authorize: POST without CSRF token", "POST", "/o/authorize/", form, "client_id=" + pub + "&response_type=code&decision=allow", nil, 403, "", nil, false},
		{"authorize: PUT", "PUT", authz, "", "", nil, 405, "", nil, false},
	}
	before := ts.counts(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			for k, v := range tc.hdr {
				if k != "X-Dup" {
					req.Header.Set(k, v)
				}
			}
			if _, dup := tc.hdr["X-Dup"]; dup {
				req.Header.Add("Authorization", req.Header.Get("Authorization"))
			}
			client := *ts.Client()
			client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			if resp.StatusCode >= 500 {
				t.Fatalf("status %d: a client's mistake must never be a 5xx: %s", resp.StatusCode, raw)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", resp.StatusCode, tc.wantStatus, raw)
			}
			for k, v := range tc.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s: got %q, want %q", k, got, v)
				}
			}
			if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("a 401 without WWW-Authenticate")
			}
			switch {
			case tc.wantRedirct:
				loc, err := url.Parse(resp.Header.Get("Location"))
				if err != nil || !strings.HasPrefix(loc.String(), "http://127.0.0.1:9999/callback?") {
					t.Fatalf("Location %q, want the client's redirect URI", resp.Header.Get("Location"))
				}
				if got := loc.Query().Get("error"); got != tc.wantError {
					t.Errorf("redirect error: got %q, want %q", got, tc.wantError)
				}
			case tc.wantError != "":
				var body struct {
					Error       string `json:"error"`
					Description string `json:"error_description"`
				}
				if err := json.Unmarshal(raw, &body); err != nil {
					t.Fatalf("body is not JSON: %s", raw)
				}
				if body.Error != tc.wantError {
					t.Errorf("error: got %q, want %q (%s)", body.Error, tc.wantError, body.Description)
				}
				if resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("Cache-Control: got %q, want no-store", resp.Header.Get("Cache-Control"))
				}
				if strings.Contains(string(raw), secret) {
					t.Errorf("the answer echoes the client secret")
				}
			default:
				if resp.Header.Get("Location") != "" {
					t.Errorf("redirected to %q; an unverified client or redirect URI must not be followed", resp.Header.Get("Location"))
				}
			}
		})
	}
	if after := ts.counts(t); after != before {
		t.Errorf("malformed requests wrote to the database: before %+v, after %+v", before, after)
	}
}
