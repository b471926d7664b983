package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// TestMassRevoke is the dashboard's mass revocation over HTTP: the form,
// the confirmation with the blast radius (grants, tokens, users) computed
// by the core's preview, the revocation through the core (CSRF-protected,
// audited with the criteria), and the effect as clients see it: the
// matching tokens fail at /api/me, the others keep working. Auditors are
// refused; criteria that cannot be used come back with what to fix.
func TestMassRevoke(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	password := func(user string, scopes ...string) *oauth2.Token {
		t.Helper()
		cfg := oauth2.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint(), Scopes: scopes}
		tok, err := cfg.PasswordCredentialsToken(ts.ctx(), user, "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	keep := password("alice", "read")
	hit := password("bob", "read", "write")
	cc := clientcredentials.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, TokenURL: ts.URL + "/o/token/", Scopes: []string{"write"}}
	service, err := cc.Token(ts.ctx())
	if err != nil {
		t.Fatal(err)
	}

	aud := newStaff(t, ts, "audrey", models.RoleAuditor)
	for _, p := range []string{"/admin/revoke", "/admin/revoke/confirm?scope=write"} {
		if resp, _ := aud.get(p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("auditor GET %s: got %d, want 403", p, resp.StatusCode)
		}
	}

	b := newBrowser(t, ts)
	b.login("admin")
	resp, html := b.get("/admin/revoke")
	if resp.StatusCode != 200 || doc(t, html).Find(`[data-testid="mass-revoke-form"]`).Length() != 1 {
		t.Fatalf("form page: %d", resp.StatusCode)
	}
	for _, bad := range []struct{ query, says string }{
		{"", "Choose a scope"},
		{"scope=read+write", "one scope token"},
		{"grant_type=refresh_token", "Grant type must be"},
		{"issued_before=yesterday", "UTC time"},
		{"scope=write&client=No+Such+App", `No client has the name or client_id "No Such App"`},
	} {
		resp, html := b.get("/admin/revoke/confirm?" + bad.query)
		msg := doc(t, html).Find(`[data-testid="mass-error"]`).Text()
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(msg, bad.says) {
			t.Errorf("%q: got %d %q, want 422 saying %q", bad.query, resp.StatusCode, msg, bad.says)
		}
	}

	resp, html = b.get("/admin/revoke/confirm?" + url.Values{"scope": {"write"}, "client": {"Confidential App"}}.Encode())
	d := doc(t, html)
	lines := d.Find(`[data-testid="confirm-line"]`).Text()
	title := d.Find("#confirm-title").Text()
	if resp.StatusCode != 200 || !strings.Contains(title, "scope write at Confidential App") ||
		!strings.Contains(lines, "2 grants and 3 live tokens") || !strings.Contains(lines, "1 user") {
		t.Fatalf("confirmation: %d %q %q", resp.StatusCode, title, lines)
	}
	action := d.Find(`[data-testid="confirm"] form`).AttrOr("action", "")
	form := formFields(t, html, action)
	form.Set("reason", "write scope leaked")
	noCSRF := url.Values{"reason": {"x"}}
	if resp, _ := b.post(action, noCSRF); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST without the CSRF value: got %d, want 403", resp.StatusCode)
	}
	if code, _, _ := ts.me(t, hit.AccessToken); code != 200 {
		t.Fatalf("before the revocation: /api/me %d", code)
	}
	resp, _ = b.post(action, form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/revoke" {
		t.Fatalf("revoke: got %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, html = b.get("/admin/revoke")
	if !strings.Contains(html, "Revoked 2 grants and 3 tokens.") {
		t.Errorf("no flash saying what was revoked")
	}
	for _, c := range []struct {
		name string
		tok  string
		want int
	}{{"read only, kept", keep.AccessToken, 200}, {"read write", hit.AccessToken, 401}, {"client credentials with write", service.AccessToken, 401}} {
		if code, _, _ := ts.me(t, c.tok); code != c.want {
			t.Errorf("%s: /api/me %d, want %d", c.name, code, c.want)
		}
	}
	page, err := ts.st.ListAudit(context.Background(), models.AuditFilter{Action: models.ActionRevokeMatching}, models.Cursor{}, 10)
	if err != nil || len(page.Rows) != 1 {
		t.Fatalf("audit: %v, %d events", err, len(page.Rows))
	}
	last := page.Rows[0]
	if last.Action != models.ActionRevokeMatching || last.Actor != "admin" || last.Grants != 2 || last.Tokens != 3 ||
		last.Reason != "write scope leaked [scope write]" || last.ClientID == nil || *last.ClientID != ts.f.Confidential.ID {
		t.Errorf("audit event: %+v", last)
	}
}
