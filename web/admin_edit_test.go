package web_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// editClientForm is the edit form of cl as the page fills it, with the
// CSRF token from the page: tests change what they need and post it.
func editClientForm(t testing.TB, b *browser, cl *models.Client) url.Values {
	t.Helper()
	path := "/admin/clients/" + strconv.FormatInt(cl.ID, 10) + "/edit"
	resp, html := b.get(path)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: got %d, want 200", path, resp.StatusCode)
	}
	d := doc(t, html)
	if d.Find(`[data-testid="edit-client-note"]`).Length() != 1 {
		t.Errorf("the edit form does not say that tokens already issued are not revoked")
	}
	form := url.Values{"csrf": {formFields(t, html, path).Get("csrf")}}
	form.Set("name", d.Find(`[data-testid="edit-client-name"]`).AttrOr("value", ""))
	form.Set("scope", d.Find(`[data-testid="edit-client-scope"]`).AttrOr("value", ""))
	form.Set("redirect_uris", d.Find(`[data-testid="edit-client-redirects"]`).Text())
	form.Set("allowed_origins", d.Find(`[data-testid="edit-client-origins"]`).Text())
	for _, g := range models.AllGrantTypes {
		if _, on := d.Find(`[data-testid="edit-client-grant-` + string(g) + `"]`).Attr("checked"); on {
			form.Add("grant", string(g))
		}
	}
	if _, on := d.Find(`[data-testid="edit-client-introspect"]`).Attr("checked"); on {
		form.Set("introspect", "1")
	}
	return form
}

// TestEditClientRedirectURI changes a client's redirect URI on the
// dashboard; the authorization flow then accepts only the new one, and a
// removed grant type is refused at once while tokens issued before keep
// working (the form says an edit revokes nothing).
func TestEditClientRedirectURI(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	before := ts.clientCredentials(t)
	cl := ts.f.Confidential
	path := "/admin/clients/" + strconv.FormatInt(cl.ID, 10) + "/edit"
	const oldURI, newURI = "http://127.0.0.1:9999/callback", "http://127.0.0.1:9999/new-callback"

	b := newBrowser(t, ts)
	b.login("admin")
	form := editClientForm(t, b, cl)
	if form.Get("redirect_uris") != oldURI || len(form["grant"]) != 4 {
		t.Fatalf("the form is not filled with the client's settings: %v", form)
	}
	form.Set("redirect_uris", newURI)
	form["grant"] = []string{"authorization_code", "refresh_token", "password"}
	form.Set("reason", "moved the callback")
	resp, html := b.post(path, form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/clients/"+strconv.FormatInt(cl.ID, 10) {
		t.Fatalf("save: got %d to %q, want 303 to the client page: %s", resp.StatusCode, resp.Header.Get("Location"), html)
	}
	ev := ts.lastAudit(t)
	if ev.Action != models.ActionClientUpdate || ev.Actor != "admin" || ev.ClientID == nil || *ev.ClientID != cl.ID ||
		!strings.Contains(ev.Reason, "redirect URIs") || !strings.Contains(ev.Reason, "grant types") || !strings.Contains(ev.Reason, "moved the callback") {
		t.Errorf("audit event: %+v", ev)
	}
	_, html = b.get("/admin/clients/" + strconv.FormatInt(cl.ID, 10))
	if settings := doc(t, html).Find(`[data-testid="client-settings"]`).Text(); !strings.Contains(settings, newURI) || strings.Contains(settings, oldURI) {
		t.Errorf("the client page shows: %s", settings)
	}

	t.Run("the new redirect URI is accepted", func(t *testing.T) {
		cfg := &oauth2.Config{ClientID: cl.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint(), RedirectURL: newURI, Scopes: []string{"read"}}
		v := oauth2.GenerateVerifier()
		q := authorize(t, ts, cfg, oauth2.S256ChallengeOption(v))
		tok, err := cfg.Exchange(ts.ctx(), q.Get("code"), oauth2.VerifierOption(v))
		if err != nil {
			t.Fatalf("exchange: %v", err)
		}
		ts.assertActive(t, tok)
	})
	t.Run("the old redirect URI is refused", func(t *testing.T) {
		alice := newBrowser(t, ts)
		alice.login("alice")
		cfg := &oauth2.Config{ClientID: cl.ClientID, Endpoint: ts.endpoint(), RedirectURL: oldURI}
		resp, html := alice.get(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(html, "redirect_uri does not match") {
			t.Errorf("old redirect URI: got %d to %q, want 400 with no redirect", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("a removed grant type is refused at once, old tokens stay", func(t *testing.T) {
		cc := clientcredentials.Config{ClientID: cl.ClientID, ClientSecret: ts.f.Secret, TokenURL: ts.URL + "/o/token/"}
		_, err := cc.Token(ts.ctx())
		assertRetrieveError(t, err, "unauthorized_client")
		ts.assertActive(t, before)
	})
	t.Run("an invalid change is refused with the form and changes nothing", func(t *testing.T) {
		bad := editClientForm(t, b, cl)
		bad.Set("redirect_uris", "/relative#frag")
		bad.Set("name", "Renamed")
		n := ts.counts(t)
		resp, html := b.post(path, bad)
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("status: got %d, want 422", resp.StatusCode)
		}
		d := doc(t, html)
		if msg := d.Find(`[data-testid="edit-error"]`).Text(); !strings.Contains(msg, "must be absolute") {
			t.Errorf("error message: got %q", msg)
		}
		if got := d.Find(`[data-testid="edit-client-name"]`).AttrOr("value", ""); got != "Renamed" {
			t.Errorf("the form lost what was typed: name %q", got)
		}
		after, err := ts.st.ClientByID(t.Context(), cl.ID)
		if err != nil || after.Name != cl.Name || after.RedirectURIs != newURI {
			t.Errorf("client changed: %+v %v", after, err)
		}
		if ts.counts(t) != n {
			t.Errorf("rows changed")
		}
	})
}

// TestAuditorCannotEdit checks that the server, not only the page, refuses
// an auditor's edits (403) and that nothing changes.
func TestAuditorCannotEdit(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	aud := newStaff(t, ts, "audrey", models.RoleAuditor)
	cid := strconv.FormatInt(ts.f.Confidential.ID, 10)
	uid := strconv.FormatInt(ts.f.Alice.ID, 10)
	for _, p := range []string{"/admin/clients/" + cid, "/admin/users/" + uid} {
		_, html := aud.get(p)
		for _, btn := range []string{"client-edit", "user-edit", "user-disable", "user-enable"} {
			if strings.Contains(html, `data-testid="`+btn+`"`) {
				t.Errorf("auditor sees %s on %s", btn, p)
			}
		}
	}
	_, html := aud.get("/admin/tokens")
	csrf := formFields(t, html, "/admin/tokens/find").Get("csrf")
	clientBefore, _ := ts.st.ClientByID(t.Context(), ts.f.Confidential.ID)
	userBefore, _ := ts.st.UserByID(t.Context(), ts.f.Alice.ID)
	before := ts.counts(t)
	form := url.Values{"csrf": {csrf}, "name": {"Hijacked"}, "scope": {"read"}, "grant": {"authorization_code"},
		"redirect_uris": {"https://evil.example/cb"}, "role": {"admin"}, "password": {"new-password-123"}}
	for _, p := range []string{"/admin/clients/" + cid + "/edit", "/admin/users/" + uid + "/edit",
		"/admin/users/" + uid + "/disable", "/admin/users/" + uid + "/enable"} {
		if resp, _ := aud.get(p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("auditor GET %s: got %d, want 403", p, resp.StatusCode)
		}
		if resp, _ := aud.post(p, form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("auditor POST %s with a valid CSRF token: got %d, want 403", p, resp.StatusCode)
		}
	}
	clientAfter, _ := ts.st.ClientByID(t.Context(), ts.f.Confidential.ID)
	userAfter, _ := ts.st.UserByID(t.Context(), ts.f.Alice.ID)
	if !reflect.DeepEqual(clientAfter, clientBefore) {
		t.Errorf("client changed: got %+v, want %+v", clientAfter, clientBefore)
	}
	if userAfter.Role != userBefore.Role || userAfter.PasswordHash != userBefore.PasswordHash || userAfter.DisabledAt != nil {
		t.Errorf("user changed: got %+v", userAfter)
	}
	if after := ts.counts(t); after != before {
		t.Errorf("rows changed: got %+v, want %+v", after, before)
	}
	ts.assertActive(t, tok)
}

// TestDisableUser disables a user through the confirmation page: their
// token is refused at /api/me, their refresh fails through x/oauth2, their
// browser session is logged out and they cannot log in or get tokens;
// enabling them again brings nothing back.
func TestDisableUser(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	bobs := ts.passwordToken(t, "bob")
	alice := newBrowser(t, ts)
	alice.login("alice")
	if resp, _ := alice.get("/o/authorized_tokens/"); resp.StatusCode != 200 {
		t.Fatalf("alice's page before: %d", resp.StatusCode)
	}

	b := newBrowser(t, ts)
	b.login("admin")
	user := "/admin/users/" + strconv.FormatInt(ts.f.Alice.ID, 10)
	_, html := b.get(user)
	open := formFields(t, html, user+"/disable")
	resp, html := b.get(user + "/disable?" + open.Encode())
	if resp.StatusCode != 200 || !strings.Contains(html, "1 grant and 2 live tokens") {
		t.Fatalf("confirmation: %d, without the counts:\n%s", resp.StatusCode, html)
	}
	form := formFields(t, html, user+"/disable")
	form.Set("reason", "left the company")
	resp, _ = b.post(user+"/disable", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != user {
		t.Fatalf("disable: got %d to %q, want 303 to %q", resp.StatusCode, resp.Header.Get("Location"), user)
	}

	ts.assertRevoked(t, tok)
	ts.assertActive(t, bobs)
	if resp, _ := alice.get("/o/authorized_tokens/"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("alice's session after disable: got %d to %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	ev := ts.lastAudit(t)
	if ev.Action != models.ActionUserDisable || ev.Actor != "admin" || ev.Reason != "left the company" || ev.Grants != 1 || ev.Tokens != 2 ||
		ev.UserID == nil || *ev.UserID != ts.f.Alice.ID {
		t.Errorf("audit event: %+v", ev)
	}
	cfg := oauth2.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint()}
	_, err := cfg.PasswordCredentialsToken(ts.ctx(), "alice", modelstest.Password)
	assertRetrieveError(t, err, "invalid_grant")
	if p, _ := ts.st.AuditEvents(t.Context(), models.AuditFilter{Action: models.ActionUserDisable}, models.Cursor{}, 10); len(p.Rows) != 1 {
		t.Errorf("user.disable events: got %d, want 1", len(p.Rows))
	}
	_, html = b.get(user)
	d := doc(t, html)
	if got := d.Find(`[data-testid="user-status"] [data-testid="status"]`).Text(); got != "disabled" {
		t.Errorf("status on the user page: got %q, want disabled", got)
	}
	if got := d.Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "Revoked 1 grant and 2 tokens") {
		t.Errorf("flash: got %q", got)
	}
	if resp, _ := b.post(user+"/disable", form); resp.StatusCode != http.StatusConflict {
		t.Errorf("disabling twice: got %d, want 409", resp.StatusCode)
	}

	t.Run("enabling lets the user log in again, tokens stay revoked", func(t *testing.T) {
		_, html := b.get(user + "/enable?return_to=" + user)
		resp, _ := b.post(user+"/enable", formFields(t, html, user+"/enable"))
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("enable: got %d, want 303", resp.StatusCode)
		}
		if ev := ts.lastAudit(t); ev.Action != models.ActionUserEnable {
			t.Errorf("audit event: %+v", ev)
		}
		ts.assertRevoked(t, tok)
		ts.assertActive(t, ts.passwordToken(t, "alice"))
		again := newBrowser(t, ts)
		again.login("alice")
	})
}

// TestEditUser changes a role and resets a password: the old password
// stops working and the user's browser sessions end, their tokens stay.
func TestEditUser(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "bob")
	bob := newBrowser(t, ts)
	bob.login("bob")
	b := newBrowser(t, ts)
	b.login("admin")
	path := "/admin/users/" + strconv.FormatInt(ts.f.Bob.ID, 10) + "/edit"
	_, html := b.get(path)
	if got := doc(t, html).Find(`[data-testid="edit-user-role"] option[selected]`).AttrOr("value", ""); got != "user" {
		t.Errorf("selected role: got %q, want user", got)
	}
	form := formFields(t, html, path)
	form.Set("role", "auditor")
	form.Set("password", "short")
	resp, html := b.post(path, form)
	if resp.StatusCode != http.StatusUnprocessableEntity || doc(t, html).Find(`[data-testid="edit-error"]`).Length() != 1 || strings.Contains(html, `value="short"`) {
		t.Fatalf("short password: got %d, want 422 with the message and without the password", resp.StatusCode)
	}
	if u, _ := ts.st.UserByID(t.Context(), ts.f.Bob.ID); u.Role != models.RoleUser {
		t.Errorf("a refused edit changed the role to %s", u.Role)
	}
	form.Set("password", "a-new-password")
	if resp, _ := b.post(path, form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: got %d, want 303", resp.StatusCode)
	}
	if u, _ := ts.st.UserByID(t.Context(), ts.f.Bob.ID); u.Role != models.RoleAuditor {
		t.Errorf("role: got %s, want auditor", u.Role)
	}
	if ev := ts.lastAudit(t); ev.Action != models.ActionUserUpdate || !strings.Contains(ev.Reason, "role user → auditor") ||
		!strings.Contains(ev.Reason, "password reset") || strings.Contains(ev.Reason, "a-new-password") {
		t.Errorf("audit event: %+v", ev)
	}
	if resp, _ := bob.get("/o/authorized_tokens/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("bob's session after a password reset: got %d, want 303 to /login", resp.StatusCode)
	}
	if _, err := ts.st.Authenticate(t.Context(), "bob", modelstest.Password); err == nil {
		t.Errorf("the old password still works")
	}
	if _, err := ts.st.Authenticate(t.Context(), "bob", "a-new-password"); err != nil {
		t.Errorf("the new password: %v", err)
	}
	ts.assertActive(t, tok)
}

// TestLastAdminStays refuses to demote or disable the last active admin,
// and allows it once another admin exists.
func TestLastAdminStays(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.login("admin")
	self := "/admin/users/" + strconv.FormatInt(ts.f.Admin.ID, 10)
	_, html := b.get(self + "/edit")
	form := formFields(t, html, self+"/edit")
	form.Set("role", "auditor")
	resp, html := b.post(self+"/edit", form)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("demoting the last admin: got %d, want 422", resp.StatusCode)
	}
	if msg := doc(t, html).Find(`[data-testid="edit-error"]`).Text(); !strings.Contains(msg, "last active admin") {
		t.Errorf("message: got %q", msg)
	}
	_, html = b.get(self + "/disable?return_to=" + self)
	if resp, _ := b.post(self+"/disable", formFields(t, html, self+"/disable")); resp.StatusCode != http.StatusConflict {
		t.Errorf("disabling the last admin: got %d, want 409", resp.StatusCode)
	}
	if u, _ := ts.st.UserByID(context.Background(), ts.f.Admin.ID); u.Role != models.RoleAdmin || u.DisabledAt != nil {
		t.Fatalf("the last admin changed: %+v", u)
	}
	for _, a := range []models.Action{models.ActionUserUpdate, models.ActionUserDisable} {
		if p, _ := ts.st.AuditEvents(t.Context(), models.AuditFilter{Action: a}, models.Cursor{}, 10); len(p.Rows) != 0 {
			t.Errorf("a refused change was audited: %+v", p.Rows)
		}
	}

	// A second admin who is disabled does not count.
	root := newStaff(t, ts, "root", models.RoleAdmin)
	if _, err := ts.st.DisableUser(t.Context(), mustUser(t, ts, "root").ID, models.StaffAction{Actor: models.Staff(ts.f.Admin)}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := b.post(self+"/edit", form); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("demoting with only a disabled second admin: got %d, want 422", resp.StatusCode)
	}
	if resp, _ := root.get("/admin/"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a disabled admin's session: got %d, want 303 to /login", resp.StatusCode)
	}
	if err := ts.st.EnableUser(t.Context(), mustUser(t, ts, "root").ID, models.StaffAction{Actor: models.Staff(ts.f.Admin)}); err != nil {
		t.Fatal(err)
	}
	resp, _ = b.post(self+"/edit", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("demoting with another admin: got %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	if u, _ := ts.st.UserByID(context.Background(), ts.f.Admin.ID); u.Role != models.RoleAuditor {
		t.Errorf("role: got %s, want auditor", u.Role)
	}
	if resp, _ := b.post(self+"/edit", form); resp.StatusCode != http.StatusForbidden {
		t.Errorf("the demoted admin edits again: got %d, want 403", resp.StatusCode)
	}
}

func mustUser(t testing.TB, ts *testServer, name string) *models.User {
	t.Helper()
	u, err := ts.st.UserByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
