package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// testServer is a real Latchkey over real HTTP on a SQLite file in a temp
// dir, with a fixture of users and clients.
type testServer struct {
	*httptest.Server
	st *models.Store
	f  *modelstest.Fixture
	db string
}

func newTestServer(t testing.TB) *testServer {
	t.Helper()
	return newTestServerWith(t, models.Options{})
}

func newTestServerWith(t testing.TB, opts models.Options) *testServer {
	t.Helper()
	db := t.TempDir() + "/latchkey.db"
	var st *models.Store
	if modelstest.OnPostgres() {
		st, db = modelstest.NewPostgresStore(t)
	} else {
		st = modelstest.OpenWith(t, db, opts)
	}
	ts := startServer(t, st, modelstest.NewFixture(t, st), web.Config{}, nil)
	ts.db = db
	return ts
}

// startServer serves st over real HTTP with cfg (the issuer is the
// server's own URL; TTLs default to models.DefaultTTLs) and log.
func startServer(t testing.TB, st *models.Store, f *modelstest.Fixture, cfg web.Config, log *slog.Logger) *testServer {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	cfg.Issuer = "http://" + srv.Listener.Addr().String()
	if cfg.TTLs == (models.TTLs{}) {
		cfg.TTLs = models.DefaultTTLs
	}
	srv.Config.Handler = web.New(cfg, st, log)
	srv.Start()
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, st: st, f: f}
}

// ctx returns a context that makes x/oauth2 use the test server's client.
func (ts *testServer) ctx() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, ts.Client())
}

func (ts *testServer) endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: ts.URL + "/o/authorize/", TokenURL: ts.URL + "/o/token/"}
}

// clientCredentials gets a token for the fixture's confidential client.
func (ts *testServer) clientCredentials(t testing.TB) *oauth2.Token {
	t.Helper()
	cfg := clientcredentials.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, TokenURL: ts.URL + "/o/token/"}
	tok, err := cfg.Token(ts.ctx())
	if err != nil {
		t.Fatalf("client credentials: %v", err)
	}
	return tok
}

// passwordToken gets a token for user at the fixture's confidential client.
func (ts *testServer) passwordToken(t testing.TB, username string) *oauth2.Token {
	t.Helper()
	cfg := oauth2.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint()}
	tok, err := cfg.PasswordCredentialsToken(ts.ctx(), username, modelstest.Password)
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	return tok
}

// me calls /api/me with a bearer token and returns status, body and the
// WWW-Authenticate header.
func (ts *testServer) me(t testing.TB, access string) (int, map[string]any, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", ts.URL+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body, resp.Header.Get("WWW-Authenticate")
}

// counts snapshots every table's row count.
func (ts *testServer) counts(t testing.TB) models.Counts {
	t.Helper()
	c, err := ts.st.TableCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// browser is a cookie-jar HTTP client that does not follow redirects, so
// tests see every hop of a login and consent flow.
type browser struct {
	t  testing.TB
	ts *testServer
	c  *http.Client
}

func newBrowser(t testing.TB, ts *testServer) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, ts: ts, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

func (b *browser) get(u string) (*http.Response, string) {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.ts.URL + u
	}
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (b *browser) post(u string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.ts.URL + u
	}
	resp, err := b.c.PostForm(u, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// formFields returns the hidden and named inputs of the form whose action
// is action: the first POST form with it, else the first form with it (a
// page may also have a GET search form with the same action).
func formFields(t testing.TB, html, action string) url.Values {
	t.Helper()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatal(err)
	}
	forms := doc.Find("form").FilterFunction(func(_ int, f *goquery.Selection) bool {
		return f.AttrOr("action", "") == action
	})
	if forms.Length() == 0 {
		t.Fatalf("no form with action %q in page:\n%s", action, html)
	}
	f := forms.First()
	if posts := forms.FilterFunction(func(_ int, f *goquery.Selection) bool {
		return strings.EqualFold(f.AttrOr("method", ""), "post")
	}); posts.Length() > 0 {
		f = posts.First()
	}
	v := url.Values{}
	f.Find("input").Each(func(_ int, in *goquery.Selection) {
		name, _ := in.Attr("name")
		val, _ := in.Attr("value")
		if name != "" {
			v.Set(name, val)
		}
	})
	return v
}

// login logs the browser in as username.
func (b *browser) login(username string) {
	b.t.Helper()
	_, html := b.get("/login")
	form := formFields(b.t, html, "/login")
	form.Set("username", username)
	form.Set("password", modelstest.Password)
	resp, body := b.post("/login", form)
	if resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login: status %d: %s", resp.StatusCode, body)
	}
}
