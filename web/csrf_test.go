package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models/modelstest"
)

// rawPost sends one hand-made browser request: its Cookie header, body and
// extra headers exactly as given, as a forging page would make a victim's
// browser send them.
func rawPost(t testing.TB, ts *testServer, path, cookie, ctype, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", ts.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

// cookie returns the value of the browser's cookie name, or "".
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.ts.URL + "/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// cookieHeader is the Cookie header the browser would send.
func (b *browser) cookieHeader() string {
	u, _ := url.Parse(b.ts.URL + "/")
	var parts []string
	for _, c := range b.c.Jar.Cookies(u) {
		parts = append(parts, c.Name+"="+c.Value)
	}
	return strings.Join(parts, "; ")
}

// pageToken returns the CSRF token of the page at path.
func (b *browser) pageToken(path string) string {
	b.t.Helper()
	_, html := b.get(path)
	tok := doc(b.t, html).Find(`meta[name="csrf-token"]`).AttrOr("content", "")
	if tok == "" {
		b.t.Fatalf("no CSRF token on %s", path)
	}
	return tok
}

// TestCSRFPlantedCookie replays the attack of a sibling subdomain that
// plants latchkey_csrf in a logged-in admin's browser and posts a form with
// the same value: the double-submit cookie alone once let it revoke a
// user's grants. Every variant is now 403 and writes nothing.
func TestCSRFPlantedCookie(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	admin := newBrowser(t, ts)
	admin.login("admin")
	session := "latchkey_session=" + admin.cookie("latchkey_session")
	path := "/admin/users/" + strconv.FormatInt(ts.f.Alice.ID, 10) + "/revoke"

	// A pre-session cookie and token the attacker fetched for itself: a
	// genuine pair, but not the victim's session.
	attacker := newBrowser(t, ts)
	anonToken := attacker.pageToken("/login")
	anonCookie := attacker.cookie("latchkey_csrf")
	if anonCookie == "" {
		t.Fatal("the login page set no pre-session cookie")
	}

	before := ts.counts(t)
	for _, tc := range []struct {
		name, cookie, token string
		hdr                 map[string]string
	}{
		{"the issue's request: planted cookie, same value, same-site", session + "; latchkey_csrf=evil", "evil", map[string]string{"Sec-Fetch-Site": "same-site"}},
		{"planted cookie, same value, no fetch metadata", session + "; latchkey_csrf=evil", "evil", nil},
		{"planted cookie first, same value", "latchkey_csrf=evil; " + session, "evil", nil},
		{"a genuine pre-session pair planted", session + "; latchkey_csrf=" + anonCookie, anonToken, nil},
		{"the token in X-CSRF-Token, as htmx sends it", session + "; latchkey_csrf=evil", "", map[string]string{"X-CSRF-Token": "evil", "Sec-Fetch-Site": "same-site"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"reason": {"planted"}}
			if tc.token != "" {
				form.Set("csrf", tc.token)
			}
			resp, _ := rawPost(t, ts, path, tc.cookie, "application/x-www-form-urlencoded", form.Encode(), tc.hdr)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status: got %d, want 403", resp.StatusCode)
			}
		})
	}
	if after := ts.counts(t); after != before {
		t.Errorf("rows changed (audit events included): got %+v, want %+v", after, before)
	}
	ts.assertActive(t, tok)

	// The admin's own page token still works, from the same browser.
	form := url.Values{"csrf": {admin.pageToken("/admin/users")}, "reason": {"own form"}}
	if resp, body := admin.post(path, form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the admin's own form: got %d, want 303: %s", resp.StatusCode, body)
	}
	ts.assertRevoked(t, tok)
}

// TestCSRFTokenBoundToSession checks that a page token works only with the
// session it was issued to: admin A's token posted with admin B's session
// is refused, B's own is accepted, and the login page's token dies at login.
func TestCSRFTokenBoundToSession(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	a := newBrowser(t, ts)
	a.login("admin")
	b := newBrowser(t, ts)
	b.login("admin")
	path := "/admin/users/" + strconv.FormatInt(ts.f.Alice.ID, 10) + "/revoke"
	tokA, tokB := a.pageToken("/admin/"), b.pageToken("/admin/")
	if tokA == tokB {
		t.Fatal("two sessions got the same CSRF token")
	}
	if again := a.pageToken("/admin/tokens"); again != tokA {
		t.Errorf("a session's token changed between pages: %q then %q", tokA, again)
	}

	// The login page's token dies when the browser logs in.
	c := newBrowser(t, ts)
	old := c.pageToken("/login")
	c.login("admin")
	// (Logging in is audited: count from here.)
	before := ts.counts(t)
	if resp, _ := b.post(path, url.Values{"csrf": {tokA}, "reason": {"cross"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("A's token with B's session: got %d, want 403", resp.StatusCode)
	}
	// The same through htmx's header.
	resp, _ := rawPost(t, ts, path, "latchkey_session="+b.cookie("latchkey_session"), "application/x-www-form-urlencoded",
		"reason=cross", map[string]string{"X-CSRF-Token": tokA, "HX-Request": "true"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("A's token in X-CSRF-Token with B's session: got %d, want 403", resp.StatusCode)
	}
	if resp, _ := c.post(path, url.Values{"csrf": {old}, "reason": {"stale"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a token from before the login: got %d, want 403", resp.StatusCode)
	}
	if after := ts.counts(t); after.AuditEvents != before.AuditEvents || after.Grants != before.Grants {
		t.Errorf("a refused request wrote: got %+v, want %+v", after, before)
	}
	ts.assertActive(t, tok)

	// htmx's header with the session's own token works.
	resp, body := rawPost(t, ts, path, "latchkey_session="+b.cookie("latchkey_session"), "application/x-www-form-urlencoded",
		"reason=own", map[string]string{"X-CSRF-Token": tokB, "HX-Request": "true", "Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode >= 400 {
		t.Fatalf("B's own token: got %d: %s", resp.StatusCode, body)
	}
	ts.assertRevoked(t, tok)
}

// TestCSRFLoginForgery checks the forms before login. There is no session
// to bind a token to, and a sibling domain can plant the pre-session
// cookie with a pair it fetched itself; what stops it from logging a victim
// into the attacker's account is the browser's word on where the form came
// from (Sec-Fetch-Site, else Origin).
func TestCSRFLoginForgery(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	attacker := newBrowser(t, ts)
	token := attacker.pageToken("/login")
	cookie := "latchkey_csrf=" + attacker.cookie("latchkey_csrf")
	form := url.Values{"csrf": {token}, "username": {"alice"}, "password": {modelstest.Password}}.Encode()

	before := ts.counts(t)
	for _, tc := range []struct {
		name string
		hdr  map[string]string
	}{
		{"from a sibling subdomain", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://evil." + "example"}},
		{"from another site", map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"another origin, no fetch metadata", map[string]string{"Origin": "http://evil.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, _ := rawPost(t, ts, "/login", cookie, "application/x-www-form-urlencoded", form, tc.hdr)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status: got %d, want 403", resp.StatusCode)
			}
			for _, c := range resp.Cookies() {
				if c.Name == "latchkey_session" {
					t.Errorf("a forged login set a session cookie")
				}
			}
		})
	}
	if after := ts.counts(t); after.Sessions != before.Sessions {
		t.Errorf("a forged login created a session: %d, want %d", after.Sessions, before.Sessions)
	}
	// The same form from the page itself logs in.
	resp, _ := rawPost(t, ts, "/login", cookie, "application/x-www-form-urlencoded", form,
		map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": ts.URL})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a same-origin login: got %d, want 303", resp.StatusCode)
	}
	// A token without its cookie is refused.
	if resp, _ := rawPost(t, ts, "/login", "", "application/x-www-form-urlencoded", form, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a login token without its cookie: got %d, want 403", resp.StatusCode)
	}
}
