package web_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// doc parses a page.
func doc(t testing.TB, html string) *goquery.Document {
	t.Helper()
	d, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newStaff creates a user with role and logs a browser in as them.
func newStaff(t testing.TB, ts *testServer, name string, role models.Role) *browser {
	t.Helper()
	if _, err := ts.st.CreateUser(context.Background(), name, role, modelstest.Password); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ts)
	b.login(name)
	return b
}

// TestAdminPagesRender opens every dashboard page as an admin and checks
// each answers 200 with its content, security headers and no raw secret.
func TestAdminPagesRender(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	b := newBrowser(t, ts)
	b.login("admin")
	cid := strconv.FormatInt(ts.f.Confidential.ID, 10)
	aid := strconv.FormatInt(ts.f.Alice.ID, 10)
	pages := []struct {
		path, want string
	}{
		{"/admin/", `data-testid="chart"`},
		{"/admin", `data-testid="stats"`},
		{"/admin/tokens", `data-testid="token-row"`},
		{"/admin/tokens?user=alice&status=active&type=access_token", `data-testid="token-row"`},
		{"/admin/tokens?client=" + ts.f.Confidential.ClientID, `data-testid="token-row"`},
		{"/admin/tokens?status=revoked", `data-testid="tokens-empty"`},
		{"/admin/tokens?user=nobody", `data-testid="filter-error"`},
		{"/admin/users", `data-testid="user-row"`},
		{"/admin/users?role=admin", `data-testid="user-link-admin"`},
		{"/admin/users/" + aid, `data-testid="grant-row"`},
		{"/admin/clients", `data-testid="client-row"`},
		{"/admin/clients/" + cid, `data-testid="grant-row"`},
		{"/admin/audit", `data-testid="audit-table"`},
		{"/admin/audit?action=grant.revoke&from=2020-01-01&to=2099-01-01", `data-testid="audit-table"`},
		{"/admin/grants/1/revoke", `data-testid="confirm"`},
		{"/admin/users/" + aid + "/revoke", `data-testid="confirm"`},
		{"/admin/users/" + aid + "/revoke?client=" + cid, `data-testid="confirm"`},
		{"/admin/clients/" + cid + "/revoke", `data-testid="confirm"`},
		{"/admin/clients/" + cid + "/rotate", `data-testid="confirm"`},
		{"/admin/clients/" + cid + "/disable", `data-testid="confirm"`},
		{"/admin/audit?action=refresh_token.reuse&since=2020-01-01T00:00:00.5Z", `data-testid="audit-since"`},
		{"/admin/revoke", `data-testid="mass-revoke-form"`},
		{"/admin/revoke/confirm?scope=read&grant_type=password&issued_before=2099-01-01T00:00", `data-testid="confirm"`},
		{"/o/authorized_tokens/", `Applications you authorized`},
	}
	for _, p := range pages {
		t.Run(p.path, func(t *testing.T) {
			resp, html := b.get(p.path)
			if resp.StatusCode != 200 {
				t.Fatalf("status: got %d, want 200: %s", resp.StatusCode, html)
			}
			if !strings.Contains(html, p.want) {
				t.Errorf("page lacks %s", p.want)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP: %q", csp)
			}
			for _, s := range []string{tok.AccessToken, tok.RefreshToken, ts.f.Secret} {
				if strings.Contains(html, s) {
					t.Errorf("a raw secret is in the page")
				}
			}
			if strings.Contains(html, "<script>") || strings.Contains(html, " style=") || strings.Contains(html, "hx-on") {
				t.Errorf("inline script or style in the page")
			}
		})
	}
}
