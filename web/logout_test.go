package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/handlers"
)

// sessionCookie returns the browser's current session cookie value ("" if
// it has none).
func (b *browser) sessionCookie() string {
	u, _ := url.Parse(b.ts.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == handlers.SessionCookie {
			return c.Value
		}
	}
	return ""
}

// pressLogout submits the page's "Log out" form exactly as the browser
// would: POST /logout with the form's hidden fields (its CSRF token).
func (b *browser) pressLogout(page string) *http.Response {
	b.t.Helper()
	resp, html := b.get(page)
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: status %d", page, resp.StatusCode)
	}
	out, _ := b.post("/logout", formFields(b.t, html, "/logout"))
	return out
}

// clearedCookie reports whether resp tells the browser to drop name.
func clearedCookie(resp *http.Response, name string) bool {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c.Value == "" && (c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now())))
		}
	}
	return false
}

// TestLogout presses "Log out" on a staff page and on the self-service page:
// 303 to /login, the session cookie is cleared, and the old cookie value no
// longer opens anything (the session is gone on the server, not only in the
// browser). Logout used to answer 503 and keep the session.
func TestLogout(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for _, tc := range []struct{ user, page string }{
		{"admin", "/admin/"},
		{"alice", "/o/authorized_tokens/"},
	} {
		t.Run(tc.user, func(t *testing.T) {
			b := newBrowser(t, ts)
			b.login(tc.user)
			old := b.sessionCookie()
			if old == "" {
				t.Fatal("no session cookie after login")
			}
			resp := b.pressLogout(tc.page)
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
				t.Fatalf("logout: status %d, Location %q; want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
			}
			if !clearedCookie(resp, handlers.SessionCookie) {
				t.Errorf("logout did not clear the session cookie: Set-Cookie %q", resp.Header.Values("Set-Cookie"))
			}
			if b.sessionCookie() != "" {
				t.Error("the browser still holds a session cookie after logout")
			}
			// The browser asks to log in again.
			if resp, _ := b.get(tc.page); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
				t.Errorf("GET %s after logout: status %d, Location %q; want 303 to /login", tc.page, resp.StatusCode, resp.Header.Get("Location"))
			}
			// So does anyone replaying the old cookie value.
			replay := newBrowser(t, ts)
			u, _ := url.Parse(ts.URL)
			replay.c.Jar.SetCookies(u, []*http.Cookie{{Name: handlers.SessionCookie, Value: old, Path: "/"}})
			if resp, _ := replay.get(tc.page); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
				t.Errorf("GET %s with the old session cookie: status %d, Location %q; want 303 to /login", tc.page, resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

// TestLogoutOfDeletedSession presses "Log out" on a page whose session was
// already ended on the server (expired, purged, or logged out in another
// tab): still 303 to /login with the cookie cleared.
func TestLogoutOfDeletedSession(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.login("admin")
	resp, html := b.get("/admin/")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /admin/: status %d", resp.StatusCode)
	}
	form := formFields(t, html, "/logout")
	if err := ts.st.DeleteSession(context.Background(), b.sessionCookie()); err != nil {
		t.Fatalf("delete session: %v", err)
	}
	out, body := b.post("/logout", form)
	if out.StatusCode != http.StatusSeeOther || out.Header.Get("Location") != "/login" {
		t.Fatalf("logout of a deleted session: status %d, Location %q: %s", out.StatusCode, out.Header.Get("Location"), body)
	}
	if !clearedCookie(out, handlers.SessionCookie) {
		t.Errorf("session cookie not cleared: Set-Cookie %q", out.Header.Values("Set-Cookie"))
	}
}
