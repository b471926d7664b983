package web_test

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"golang.org/x/oauth2"
)

// revokeCase is one row of the RFC 7009 matrix. build gets fresh tokens —
// grant A (the target) — and returns the request to send.
type revokeCase struct {
	name       string
	build      func(r *revokeRig) *http.Request
	wantStatus int
	wantError  string
	wantHeader map[string]string
	noHeader   []string
	// effect is what a client then sees of grant A: "revoked" or "alive".
	effect string
	// wantEvent is the audit action written, "" for none.
	wantEvent models.Action
}

// revokeRig holds one row's world: grant A (alice at the confidential
// client), grant B (alice again, same client: must survive), and a grant
// at the public client.
type revokeRig struct {
	ts     *testServer
	a, b   *oauth2.Token
	pub    *oauth2.Token
	client string
	secret string
}

func (r *revokeRig) post(path, ctype, body string) *http.Request {
	req, _ := http.NewRequest("POST", r.ts.URL+path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req
}

func (r *revokeRig) form(vals ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(vals); i += 2 {
		v.Add(vals[i], vals[i+1])
	}
	return v.Encode()
}

const formType = "application/x-www-form-urlencoded"

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// percentAll percent-encodes every byte, which RFC 6749 §2.3.1's
// form-urlencoding allows a client to do.
func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString("%" + strings.ToUpper(hex2(s[i])))
	}
	return b.String()
}

func hex2(c byte) string {
	const h = "0123456789abcdef"
	return string([]byte{h[c>>4], h[c&15]})
}

func revokeCases() []revokeCase {
	tokenPost := func(tok func(r *revokeRig) string, extra ...string) func(r *revokeRig) *http.Request {
		return func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", formType, r.form(append([]string{"token", tok(r), "client_id", r.client, "client_secret", r.secret}, extra...)...))
		}
	}
	access := func(r *revokeRig) string { return r.a.AccessToken }
	refresh := func(r *revokeRig) string { return r.a.RefreshToken }
	revoked := func(name string, b func(r *revokeRig) *http.Request) revokeCase {
		return revokeCase{name: name, build: b, wantStatus: 200, effect: "revoked", wantEvent: models.ActionRevokeToken,
			wantHeader: map[string]string{"Cache-Control": "no-store"}}
	}
	refused := func(name string, status int, code string, b func(r *revokeRig) *http.Request) revokeCase {
		return revokeCase{name: name, build: b, wantStatus: status, wantError: code, effect: "alive",
			wantHeader: map[string]string{"Cache-Control": "no-store"}}
	}
	return []revokeCase{
		// Rule 2 and DOT compatibility: the tutorial's curl, verbatim.
		revoked("DOT tutorial curl body, access token", func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", formType, "token="+r.a.AccessToken+"&client_id="+r.client+"&client_secret="+r.secret)
		}),
		revoked("DOT tutorial curl body, refresh token", func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", formType, "token="+r.a.RefreshToken+"&client_id="+r.client+"&client_secret="+r.secret)
		}),
		revoked("path without trailing slash", func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token", formType, "token="+r.a.AccessToken+"&client_id="+r.client+"&client_secret="+r.secret)
		}),
		revoked("client_secret_basic", func(r *revokeRig) *http.Request {
			req := r.post("/o/revoke_token/", formType, r.form("token", r.a.AccessToken))
			req.Header.Set("Authorization", basicAuth(r.client, r.secret))
			return req
		}),
		revoked("Basic with percent-encoded credentials", func(r *revokeRig) *http.Request {
			req := r.post("/o/revoke_token/", formType, r.form("token", r.a.AccessToken))
			raw := percentAll(r.client) + ":" + percentAll(r.secret)
			req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(raw)))
			return req
		}),
		revoked("Basic scheme name in lower case", func(r *revokeRig) *http.Request {
			req := r.post("/o/revoke_token/", formType, r.form("token", r.a.AccessToken))
			req.Header.Set("Authorization", "basic"+strings.TrimPrefix(basicAuth(r.client, r.secret), "Basic"))
			return req
		}),
		revoked("Content-Type with charset", func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", "application/x-www-form-urlencoded; charset=UTF-8", r.form("token", r.a.AccessToken, "client_id", r.client, "client_secret", r.secret))
		}),
		// Rule 4: hints.
		revoked("hint access_token, right", tokenPost(access, "token_type_hint", "access_token")),
		revoked("hint refresh_token, right", tokenPost(refresh, "token_type_hint", "refresh_token")),
		revoked("hint access_token, wrong", tokenPost(refresh, "token_type_hint", "access_token")),
		revoked("hint refresh_token, wrong", tokenPost(access, "token_type_hint", "refresh_token")),
		revoked("hint unknown, ignored", tokenPost(access, "token_type_hint", "id_token")),
		// Rule 10: CORS.
		func() revokeCase {
			c := revoked("CORS from a registered origin", func(r *revokeRig) *http.Request {
				req := tokenPost(access)(r)
				req.Header.Set("Origin", "https://app.example.com")
				return req
			})
			c.wantHeader["Access-Control-Allow-Origin"] = "https://app.example.com"
			return c
		}(),
		func() revokeCase {
			c := revoked("CORS from an unregistered origin", func(r *revokeRig) *http.Request {
				req := tokenPost(access)(r)
				req.Header.Set("Origin", "https://evil.example")
				return req
			})
			c.noHeader = []string{"Access-Control-Allow-Origin"}
			return c
		}(),
		// Public clients send only client_id.
		{name: "public client revokes its own token", build: func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", formType, r.form("token", r.pub.AccessToken, "client_id", r.ts.f.Public.ClientID))
		}, wantStatus: 200, effect: "pub-revoked", wantEvent: models.ActionRevokeToken},
		refused("public client sending a secret", 401, "invalid_client", func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", formType, r.form("token", r.pub.AccessToken, "client_id", r.ts.f.Public.ClientID, "client_secret", "anything"))
		}),
		// Rule 5: another client's token.
		func() revokeCase {
			c := refused("another client's token", 400, "unauthorized_client", func(r *revokeRig) *http.Request {
				return r.post("/o/revoke_token/", formType, r.form("token", r.a.AccessToken, "client_id", r.ts.f.Other.ClientID, "client_secret", r.ts.f.OtherSecret))
			})
			c.wantEvent = models.ActionRevokeRefused
			return c
		}(),
		func() revokeCase {
			c := refused("public client names a confidential client's token", 400, "unauthorized_client", func(r *revokeRig) *http.Request {
				return r.post("/o/revoke_token/", formType, r.form("token", r.a.RefreshToken, "client_id", r.ts.f.Public.ClientID))
			})
			c.wantEvent = models.ActionRevokeRefused
			return c
		}(),
		// Rule 6: unknown, expired, already revoked: 200, nothing changes.
		{name: "unknown token", build: func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", formType, r.form("token", "lk_at_doesnotexist", "client_id", r.client, "client_secret", r.secret))
		}, wantStatus: 200, effect: "alive"},
		{name: "token of no recognisable shape", build: func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", formType, r.form("token", "!!! not a token ☃", "client_id", r.client, "client_secret", r.secret))
		}, wantStatus: 200, effect: "alive"},
		{name: "already revoked token", build: func(r *revokeRig) *http.Request {
			body := r.form("token", r.a.AccessToken, "client_id", r.client, "client_secret", r.secret)
			resp, err := r.ts.Client().Do(r.post("/o/revoke_token/", formType, body))
			if err != nil || resp.StatusCode != 200 {
				panic("first revocation failed")
			}
			resp.Body.Close()
			return r.post("/o/revoke_token/", formType, body)
		}, wantStatus: 200, effect: "revoked", wantEvent: models.ActionRevokeToken},
		// Rule 3: token required.
		refused("token missing", 400, "invalid_request", func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", formType, r.form("client_id", r.client, "client_secret", r.secret))
		}),
		refused("token empty", 400, "invalid_request", func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", formType, "token=&client_id="+r.client+"&client_secret="+r.secret)
		}),
		// Rule 2: duplicates and authentication failures.
		refused("token given twice", 400, "invalid_request", tokenPost(access, "token", "lk_at_other")),
		refused("client_id given twice", 400, "invalid_request", tokenPost(access, "client_id", "x")),
		refused("credentials in header and body", 400, "invalid_request", func(r *revokeRig) *http.Request {
			req := tokenPost(access)(r)
			req.Header.Set("Authorization", basicAuth(r.client, r.secret))
			return req
		}),
		func() revokeCase {
			c := refused("wrong secret in the body", 401, "invalid_client", tokenPost(access, "client_secret", ""))
			c.build = func(r *revokeRig) *http.Request {
				return r.post("/o/revoke_token/", formType, r.form("token", r.a.AccessToken, "client_id", r.client, "client_secret", "lk_cs_wrong"))
			}
			return c
		}(),
		func() revokeCase {
			c := refused("wrong secret over Basic", 401, "invalid_client", func(r *revokeRig) *http.Request {
				req := r.post("/o/revoke_token/", formType, r.form("token", r.a.AccessToken))
				req.Header.Set("Authorization", basicAuth(r.client, "lk_cs_wrong"))
				return req
			})
			c.wantHeader["WWW-Authenticate"] = `Basic realm="latchkey"`
			return c
		}(),
		refused("unknown client", 401, "invalid_client", func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", formType, r.form("token", r.a.AccessToken, "client_id", "nobody", "client_secret", "x"))
		}),
		refused("no client authentication", 401, "invalid_client", func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", formType, r.form("token", r.a.AccessToken))
		}),
		// Rule 1: method, content type, query string.
		refused("query string on the POST", 400, "invalid_request", func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/?token="+r.a.AccessToken, formType, r.form("client_id", r.client, "client_secret", r.secret))
		}),
		refused("JSON body", 400, "invalid_request", func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", "application/json", `{"token":"`+r.a.AccessToken+`"}`)
		}),
		refused("text/plain body", 400, "invalid_request", func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", "text/plain", "token="+r.a.AccessToken+"&client_id="+r.client+"&client_secret="+r.secret)
		}),
		refused("multipart body", 400, "invalid_request", func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n"+r.a.AccessToken+"\r\n--x--\r\n")
		}),
		refused("no Content-Type", 400, "invalid_request", func(r *revokeRig) *http.Request {
			return r.post("/o/revoke_token/", "", "token="+r.a.AccessToken+"&client_id="+r.client+"&client_secret="+r.secret)
		}),
		refused("body over 64 KiB", 413, "invalid_request", tokenPost(access, "pad", strings.Repeat("x", 65<<10))),
		func() revokeCase {
			c := refused("GET", 405, "invalid_request", func(r *revokeRig) *http.Request {
				req, _ := http.NewRequest("GET", r.ts.URL+"/o/revoke_token/?token="+r.a.AccessToken, nil)
				return req
			})
			c.wantHeader["Allow"] = "POST, OPTIONS"
			return c
		}(),
		func() revokeCase {
			c := refused("DELETE without trailing slash", 405, "invalid_request", func(r *revokeRig) *http.Request {
				req, _ := http.NewRequest("DELETE", r.ts.URL+"/o/revoke_token", nil)
				return req
			})
			c.wantHeader["Allow"] = "POST, OPTIONS"
			return c
		}(),
		{name: "CORS preflight from a registered origin", build: func(r *revokeRig) *http.Request {
			req, _ := http.NewRequest("OPTIONS", r.ts.URL+"/o/revoke_token/", nil)
			req.Header.Set("Origin", "https://app.example.com")
			req.Header.Set("Access-Control-Request-Method", "POST")
			return req
		}, wantStatus: 204, effect: "alive", wantHeader: map[string]string{"Access-Control-Allow-Origin": "https://app.example.com", "Access-Control-Allow-Methods": "POST"}},
		{name: "CORS preflight from another origin", build: func(r *revokeRig) *http.Request {
			req, _ := http.NewRequest("OPTIONS", r.ts.URL+"/o/revoke_token", nil)
			req.Header.Set("Origin", "https://evil.example")
			req.Header.Set("Access-Control-Request-Method", "POST")
			return req
		}, wantStatus: 204, effect: "alive", noHeader: []string{"Access-Control-Allow-Origin"}},
	}
}

func TestRevokeEndpoint(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	rs, err := ts.st.CreateClient(ctx, models.NewClient{Name: "Resource Server", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantClientCredentials}, Introspect: true})
	if err != nil {
		t.Fatal(err)
	}
	cases := revokeCases()
	if len(cases) < 35 {
		t.Fatalf("the matrix has %d rows; the issue asks for at least 35", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &revokeRig{ts: ts, client: ts.f.Confidential.ClientID, secret: ts.f.Secret}
			r.a, r.b = ts.passwordToken(t, "alice"), ts.passwordToken(t, "alice")
			pubCfg := oauth2.Config{ClientID: ts.f.Public.ClientID, Endpoint: ts.endpoint()}
			if r.pub, err = pubCfg.PasswordCredentialsToken(ts.ctx(), "bob", "correct horse battery"); err != nil {
				t.Fatal(err)
			}
			before := ts.counts(t)
			resp, err := ts.Client().Do(tc.build(r))
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", resp.StatusCode, tc.wantStatus, raw)
			}
			if tc.wantError != "" {
				if !strings.Contains(string(raw), `"error":"`+tc.wantError+`"`) {
					t.Errorf("body: got %s, want error %q", raw, tc.wantError)
				}
			} else if len(raw) != 0 {
				t.Errorf("body: got %q, want empty", raw)
			}
			for k, v := range tc.wantHeader {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("header %s: got %q, want %q", k, got, v)
				}
			}
			for _, k := range tc.noHeader {
				if got := resp.Header.Get(k); got != "" {
					t.Errorf("header %s: got %q, want none", k, got)
				}
			}
			if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("a 401 without WWW-Authenticate")
			}
			for _, tok := range []string{r.a.AccessToken, r.a.RefreshToken, r.secret} {
				if strings.Contains(string(raw), tok) {
					t.Errorf("the answer echoes a token or secret")
				}
			}

			// The effect, as clients see it.
			target := r.a
			if tc.effect == "pub-revoked" {
				target = r.pub
			}
			switch tc.effect {
			case "revoked", "pub-revoked":
				assertRevoked(t, ts, rs, target)
				cfg := oauth2.Config{ClientID: r.client, ClientSecret: r.secret, Endpoint: ts.endpoint()}
				if tc.effect == "pub-revoked" {
					cfg = oauth2.Config{ClientID: ts.f.Public.ClientID, Endpoint: ts.endpoint()}
				}
				_, err := cfg.TokenSource(ts.ctx(), &oauth2.Token{RefreshToken: target.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
				assertRetrieveError(t, err, "invalid_grant")
			case "alive":
				for _, tok := range []*oauth2.Token{r.a, r.pub} {
					if status, _, _ := ts.me(t, tok.AccessToken); status != 200 {
						t.Errorf("a token that must stay valid answers %d at /api/me", status)
					}
				}
			}
			// Other grants of the same user and client are untouched.
			if status, _, _ := ts.me(t, r.b.AccessToken); status != 200 {
				t.Errorf("grant B of the same user and client was revoked too: /api/me %d", status)
			}

			after := ts.counts(t)
			events, err := ts.st.AuditEvents(ctx, models.AuditFilter{}, models.Cursor{}, 5)
			if err != nil {
				t.Fatal(err)
			}
			newEvents := int(after.AuditEvents - before.AuditEvents)
			switch {
			case tc.wantEvent == "" && newEvents != 0:
				t.Errorf("audit: %d new events, want none", newEvents)
			case tc.wantEvent != "" && newEvents != 1 && tc.name != "already revoked token":
				t.Errorf("audit: %d new events, want exactly one", newEvents)
			case tc.wantEvent != "":
				ev := events.Rows[0]
				if ev.Action != tc.wantEvent || ev.ActorType != models.ActorClient || ev.RequestID == "" || ev.RemoteAddr == "" {
					t.Errorf("audit event: %+v", ev)
				}
				if ev.Action == models.ActionRevokeRefused && ev.Reason != "token was issued to another client" {
					t.Errorf("a refusal's audit reason %q, want why it was refused", ev.Reason)
				}
				if ev.Action == models.ActionRevokeToken && (ev.Grants != 1 || ev.Tokens != 2) {
					t.Errorf("audit counts: %d grants, %d tokens; want 1 and 2", ev.Grants, ev.Tokens)
				}
			}
		})
	}
}

// assertRevoked checks a revoked grant from every side: the resource
// server (/api/me), introspection, both tokens.
func assertRevoked(t *testing.T, ts *testServer, rs *models.CreatedClient, tok *oauth2.Token) {
	t.Helper()
	status, _, challenge := ts.me(t, tok.AccessToken)
	if status != 401 || !strings.Contains(challenge, `error="invalid_token"`) {
		t.Errorf("/api/me with a revoked token: %d %q", status, challenge)
	}
	for _, raw := range []string{tok.AccessToken, tok.RefreshToken} {
		resp, body := postForm(t, ts, "/o/introspect/", url.Values{"token": {raw}},
			http.Header{"Authorization": {basicAuth(rs.Client.ClientID, rs.Secret)}})
		if resp.StatusCode != 200 || body["active"] != false || len(body) != 1 {
			t.Errorf("introspection of a revoked token: %d %v", resp.StatusCode, body)
		}
	}
}
