package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/latchkey/latchkey/models"
	"golang.org/x/oauth2"
)

// refreshFails checks from outside that a revoked grant is dead: its
// access token is refused at /api/me and its refresh token at the token
// endpoint, through x/oauth2.
func (ts *testServer) assertRevoked(t testing.TB, tok *oauth2.Token) {
	t.Helper()
	if status, _, hdr := ts.me(t, tok.AccessToken); status != 401 || !strings.Contains(hdr, `error="invalid_token"`) {
		t.Errorf("/api/me with the revoked access token: got %d %q, want 401 invalid_token", status, hdr)
	}
	cfg := oauth2.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint()}
	_, err := cfg.TokenSource(ts.ctx(), &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
	assertRetrieveError(t, err, "invalid_grant")
}

func (ts *testServer) assertActive(t testing.TB, tok *oauth2.Token) {
	t.Helper()
	if status, _, _ := ts.me(t, tok.AccessToken); status != 200 {
		t.Errorf("/api/me with a token that must still work: got %d, want 200", status)
	}
}

// lastAudit returns the newest audit event.
func (ts *testServer) lastAudit(t testing.TB) models.AuditEvent {
	t.Helper()
	p, err := ts.st.AuditEvents(context.Background(), models.AuditFilter{}, models.Cursor{}, 1)
	if err != nil || len(p.Rows) == 0 {
		t.Fatalf("no audit event: %v", err)
	}
	return p.Rows[0]
}

// TestRevokeGrantWithoutJavaScript does a revocation the way a browser
// without JavaScript does: the button's GET form opens a confirmation
// page, whose POST form revokes and redirects back (303).
func TestRevokeGrantWithoutJavaScript(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	other := ts.passwordToken(t, "alice")
	info, err := ts.st.ActiveToken(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	gid := strconv.FormatInt(info.Token.GrantID, 10)
	action := "/admin/grants/" + gid + "/revoke"

	b := newBrowser(t, ts)
	b.login("admin")
	list := "/admin/tokens?user=alice"
	_, html := b.get(list)
	open := formFields(t, html, action)
	if open.Get("return_to") != list {
		t.Errorf("return_to: got %q, want %q", open.Get("return_to"), list)
	}
	resp, html := b.get(action + "?" + open.Encode())
	if resp.StatusCode != 200 {
		t.Fatalf("confirmation page: %d", resp.StatusCode)
	}
	if !strings.Contains(html, "1 grant and 2 live tokens") {
		t.Errorf("the confirmation does not say what it revokes:\n%s", html)
	}
	form := formFields(t, html, action)
	form.Set("reason", "laptop stolen")
	resp, _ = b.post(action, form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != list {
		t.Fatalf("POST: got %d to %q, want 303 to %q", resp.StatusCode, resp.Header.Get("Location"), list)
	}
	_, html = b.get(list)
	d := doc(t, html)
	if got := d.Find(`[data-testid="flash"]`).Text(); got != "Revoked 1 grant and 2 tokens." {
		t.Errorf("flash: got %q", got)
	}
	revoked := 0
	d.Find(`[data-testid="token-row"] [data-testid="status"]`).Each(func(_ int, s *goquery.Selection) {
		if s.Text() == "revoked" {
			revoked++
		}
	})
	if revoked != 2 {
		t.Errorf("rows showing revoked: got %d, want 2", revoked)
	}
	ts.assertRevoked(t, tok)
	ts.assertActive(t, other)
	ev := ts.lastAudit(t)
	if ev.Action != models.ActionRevokeGrant || ev.Actor != "admin" || ev.ActorType != models.ActorStaff || ev.Reason != "laptop stolen" || ev.Tokens != 2 {
		t.Errorf("audit event: %+v", ev)
	}
}

// TestDashboardPostWithoutCSRF checks that a state change without a valid
// CSRF token is refused with 403 and changes nothing.
func TestDashboardPostWithoutCSRF(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	b := newBrowser(t, ts)
	b.login("admin")
	before := ts.counts(t)
	uid := strconv.FormatInt(ts.f.Alice.ID, 10)
	cid := strconv.FormatInt(ts.f.Confidential.ID, 10)
	for _, tc := range []struct {
		name, path, csrf string
	}{
		{"revoke user grants, no token", "/admin/users/" + uid + "/revoke", ""},
		{"revoke user grants, wrong token", "/admin/users/" + uid + "/revoke", "forged"},
		{"revoke client tokens, no token", "/admin/clients/" + cid + "/revoke", ""},
		{"disable client, wrong token", "/admin/clients/" + cid + "/disable", "x"},
		{"create user, no token", "/admin/users", ""},
		{"self-service revoke, no token", "/o/authorized_tokens/" + cid + "/delete/", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"reason": {"csrf"}, "username": {"mallory"}, "role": {"admin"}, "password": {"mallory-password"}}
			if tc.csrf != "" {
				form.Set("csrf", tc.csrf)
			}
			resp, _ := b.post(tc.path, form)
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("status: got %d, want 403", resp.StatusCode)
			}
		})
	}
	if after := ts.counts(t); after != before {
		t.Errorf("rows changed: got %+v, want %+v", after, before)
	}
	ts.assertActive(t, tok)
}

// TestDashboardRoles checks the server, not only the page: an auditor
// reads and cannot act, a user cannot open the dashboard, and an anonymous
// visitor is sent to log in.
func TestDashboardRoles(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	info, _ := ts.st.ActiveToken(context.Background(), tok.AccessToken)
	gid := strconv.FormatInt(info.Token.GrantID, 10)
	uid := strconv.FormatInt(ts.f.Alice.ID, 10)
	cid := strconv.FormatInt(ts.f.Confidential.ID, 10)

	aud := newStaff(t, ts, "audrey", models.RoleAuditor)
	for _, p := range []string{"/admin/", "/admin/tokens", "/admin/users/" + uid, "/admin/clients/" + cid, "/admin/audit", "/admin/audit.csv"} {
		resp, html := aud.get(p)
		if resp.StatusCode != 200 {
			t.Errorf("auditor GET %s: got %d, want 200", p, resp.StatusCode)
		}
		for _, btn := range []string{"token-revoke", "grant-revoke", "user-revoke-all", "client-revoke-all", "client-rotate", "client-disable", "create-user", "create-client"} {
			if strings.Contains(html, `data-testid="`+btn+`"`) {
				t.Errorf("auditor sees %s on %s", btn, p)
			}
		}
	}
	_, html := aud.get("/admin/tokens")
	csrf := formFields(t, html, "/admin/tokens/find").Get("csrf")
	before := ts.counts(t)
	for _, p := range []string{"/admin/grants/" + gid + "/revoke", "/admin/users/" + uid + "/revoke", "/admin/clients/" + cid + "/revoke",
		"/admin/clients/" + cid + "/rotate", "/admin/clients/" + cid + "/disable", "/admin/users", "/admin/clients"} {
		if resp, _ := aud.get(p); resp.StatusCode != http.StatusForbidden && p != "/admin/users" && p != "/admin/clients" {
			t.Errorf("auditor GET %s: got %d, want 403", p, resp.StatusCode)
		}
		resp, _ := aud.post(p, url.Values{"csrf": {csrf}, "name": {"x"}, "username": {"eve"}, "password": {"eve-password"}, "role": {"admin"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("auditor POST %s with a valid CSRF token: got %d, want 403", p, resp.StatusCode)
		}
	}
	if after := ts.counts(t); after != before {
		t.Errorf("an auditor changed rows: got %+v, want %+v", after, before)
	}
	ts.assertActive(t, tok)

	alice := newBrowser(t, ts)
	alice.login("alice")
	if resp, _ := alice.get("/admin/"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("user on /admin/: got %d, want 403", resp.StatusCode)
	}
	if resp, _ := alice.get("/admin/tokens"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("user on /admin/tokens: got %d, want 403", resp.StatusCode)
	}
	anon := newBrowser(t, ts)
	if resp, _ := anon.get("/admin/tokens"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?next=") {
		t.Errorf("anonymous: got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestPasteToken finds a token by its hash, never echoing it.
func TestPasteToken(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	b := newBrowser(t, ts)
	b.login("admin")
	_, html := b.get("/admin/tokens")
	form := formFields(t, html, "/admin/tokens/find")
	form.Set("token", tok.RefreshToken)
	resp, _ := b.post("/admin/tokens/find", form)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "found=") || strings.Contains(loc, tok.RefreshToken) {
		t.Fatalf("find: got %d %q", resp.StatusCode, loc)
	}
	_, html = b.get(loc)
	d := doc(t, html)
	if d.Find(`[data-testid="found-token"]`).Length() != 1 || d.Find(`[data-testid="found-status"]`).Text() != "active" {
		t.Errorf("found panel missing or wrong")
	}
	if strings.Contains(html, tok.RefreshToken) {
		t.Errorf("the pasted token is in the page")
	}
	form.Set("token", "lk_at_"+strings.Repeat("x", 43))
	resp, html = b.post("/admin/tokens/find", form)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(html, `data-testid="find-error"`) || strings.Contains(html, strings.Repeat("x", 43)) {
		t.Errorf("miss: got %d", resp.StatusCode)
	}
}

// TestSelfServiceRevoke is /o/authorized_tokens/ without JavaScript: a user
// sees their applications and revokes one; another user cannot.
func TestSelfServiceRevoke(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	t1 := ts.passwordToken(t, "alice")
	t2 := ts.passwordToken(t, "alice")
	bobs := ts.passwordToken(t, "bob")
	cid := strconv.FormatInt(ts.f.Confidential.ID, 10)

	bob := newBrowser(t, ts)
	bob.login("bob")
	_, html := bob.get("/o/authorized_tokens/")
	csrf := doc(t, html).Find(`meta[name="csrf-token"]`).AttrOr("content", "")
	// Bob revoking Confidential App revokes his own grant only.
	alice := newBrowser(t, ts)
	alice.login("alice")
	for _, p := range []string{"/o/authorized_tokens", "/o/authorized_tokens/"} {
		resp, html := alice.get(p)
		if resp.StatusCode != 200 || doc(t, html).Find(`[data-testid="app-row"]`).Length() != 1 {
			t.Fatalf("%s: got %d, want one app row", p, resp.StatusCode)
		}
		if got := doc(t, html).Find(`[data-testid="app-devices"]`).Text(); got != "Signed in to Confidential App on 2 devices" {
			t.Errorf("the two grants are not grouped under one client: got %q", got)
		}
		noJargon(t, p, html)
	}
	if resp, _ := alice.get("/o/authorized_tokens/" + strconv.FormatInt(ts.f.Other.ID, 10) + "/delete/"); resp.StatusCode != 404 {
		t.Errorf("confirm for an app alice never authorized: got %d, want 404", resp.StatusCode)
	}
	resp, html := alice.get("/o/authorized_tokens/" + cid + "/delete/")
	if resp.StatusCode != 200 || doc(t, html).Find("#confirm-title").Text() != "Remove Confidential App's access?" ||
		!strings.Contains(html, "signed out on 2 devices") {
		t.Fatalf("confirmation: %d %s", resp.StatusCode, doc(t, html).Find("main").Text())
	}
	noJargon(t, "the confirmation", html)
	form := formFields(t, html, "/o/authorized_tokens/"+cid+"/delete/")
	resp, _ = alice.post("/o/authorized_tokens/"+cid+"/delete", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: got %d, want 303", resp.StatusCode)
	}
	_, html = alice.get(resp.Header.Get("Location"))
	if got := doc(t, html).Find(`[data-testid="flash"]`).Text(); got != "Removed Confidential App's access: it is signed out on 2 devices." {
		t.Errorf("flash: got %q", got)
	}
	noJargon(t, "after removing", html)
	ts.assertRevoked(t, t1)
	ts.assertRevoked(t, t2)
	ts.assertActive(t, bobs)
	ev := ts.lastAudit(t)
	if ev.ActorType != models.ActorUser || ev.Actor != "alice" || ev.Grants != 2 || ev.Tokens != 4 {
		t.Errorf("audit event: %+v", ev)
	}
	// Alice has nothing left there: a second POST is a 404, and so is
	// any id that is not hers.
	resp, _ = alice.post("/o/authorized_tokens/"+cid+"/delete/", form)
	if resp.StatusCode != 404 {
		t.Errorf("second revoke: got %d, want 404", resp.StatusCode)
	}
	_ = csrf
}

// noJargon fails when an end user's page speaks of sessions, tokens or
// grants: the self-service page talks of applications, devices and access.
func noJargon(t *testing.T, where, html string) {
	t.Helper()
	text := strings.ToLower(doc(t, html).Find("main").Text())
	for _, w := range []string{"session", "token", "grant"} {
		if strings.Contains(text, w) {
			t.Errorf("%s: an end user reads %q: %s", where, w, strings.Join(strings.Fields(text), " "))
		}
	}
}
