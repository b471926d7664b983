package web_test

import (
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
	"golang.org/x/oauth2/clientcredentials"
)

// TestClientLifecycleOnDashboard registers a client (secret shown once),
// rotates its secret, and disables it, each through the dashboard's forms,
// and checks each from outside with x/oauth2.
func TestClientLifecycleOnDashboard(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.login("admin")
	_, html := b.get("/admin/clients")
	form := formFields(t, html, "/admin/clients")
	form.Set("name", "Billing")
	form.Set("type", "confidential")
	form["grant"] = []string{"client_credentials"}
	resp, html := b.post("/admin/clients", form)
	if resp.StatusCode != 200 {
		t.Fatalf("create: %d %s", resp.StatusCode, html)
	}
	d := doc(t, html)
	id, secret := d.Find(`[data-testid="new-client-id"]`).Text(), d.Find(`[data-testid="secret-value"]`).Text()
	if !strings.HasPrefix(secret, models.PrefixClientSecret) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("secret shown once: %q, Cache-Control %q", secret, resp.Header.Get("Cache-Control"))
	}
	cc := clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: ts.URL + "/o/token/"}
	tok, err := cc.Token(ts.ctx())
	if err != nil {
		t.Fatalf("token with the new client: %v", err)
	}
	cl, err := ts.st.ClientByClientID(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	base := "/admin/clients/" + strconv.FormatInt(cl.ID, 10)
	_, html = b.get(base)
	if strings.Contains(html, secret) {
		t.Errorf("the client page shows the secret again")
	}

	_, html = b.get(base + "/rotate?return_to=" + base)
	resp, html = b.post(base+"/rotate", formFields(t, html, base+"/rotate"))
	newSecret := doc(t, html).Find(`[data-testid="secret-value"]`).Text()
	if resp.StatusCode != 200 || newSecret == "" || newSecret == secret {
		t.Fatalf("rotate: %d %q", resp.StatusCode, newSecret)
	}
	if _, err := cc.Token(ts.ctx()); err == nil {
		t.Errorf("the old secret still works")
	}
	cc.ClientSecret = newSecret
	if _, err := cc.Token(ts.ctx()); err != nil {
		t.Errorf("the new secret: %v", err)
	}
	if status, _, _ := ts.me(t, tok.AccessToken); status != 200 {
		t.Errorf("rotation revoked a token: %d", status)
	}

	_, html = b.get(base + "/disable?return_to=" + base)
	if !strings.Contains(html, "2 grants and 2 live tokens") {
		t.Errorf("disable confirmation lacks the counts")
	}
	form = formFields(t, html, base+"/disable")
	form.Set("reason", "decommissioned")
	resp, _ = b.post(base+"/disable", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("disable: %d", resp.StatusCode)
	}
	if status, _, _ := ts.me(t, tok.AccessToken); status != 401 {
		t.Errorf("a disabled client's token: got %d, want 401", status)
	}
	if _, err := cc.Token(ts.ctx()); err == nil {
		t.Errorf("a disabled client still gets tokens")
	}
	_, html = b.get(base)
	if got := doc(t, html).Find(`[data-testid="client-status"] [data-testid="status"]`).Text(); got != "disabled" {
		t.Errorf("status: got %q", got)
	}
	if ev := ts.lastAudit(t); ev.Action != models.ActionClientDisable || ev.Reason != "decommissioned" || ev.Tokens != 2 {
		t.Errorf("audit: %+v", ev)
	}
}

// TestCreateUserOnDashboard creates a user and refuses a duplicate.
func TestCreateUserOnDashboard(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.login("admin")
	_, html := b.get("/admin/users")
	form := url.Values{"csrf": {doc(t, html).Find(`meta[name="csrf-token"]`).AttrOr("content", "")}}
	form.Set("username", "carol")
	form.Set("role", "auditor")
	form.Set("password", "carol-password")
	resp, _ := b.post("/admin/users", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	if u, err := ts.st.UserByUsername(t.Context(), "carol"); err != nil || u.Role != models.RoleAuditor {
		t.Errorf("carol: %+v %v", u, err)
	}
	if ev := ts.lastAudit(t); ev.Action != models.ActionUserCreate || ev.Actor != "admin" {
		t.Errorf("audit: %+v", ev)
	}
	resp, html = b.post("/admin/users", form)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(html, `data-testid="create-error"`) || strings.Contains(html, "carol-password") {
		t.Errorf("duplicate: %d", resp.StatusCode)
	}
}

// TestAuditCSV checks the export's stable header against a golden file and
// that its rows follow the page's filters.
func TestAuditCSV(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.passwordToken(t, "alice")
	if _, err := ts.st.Revoke(t.Context(), models.RevokeRequest{UserID: ts.f.Alice.ID, Actor: models.Staff(ts.f.Admin), Reason: "=HYPERLINK(\"x\")"}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ts)
	b.login("admin")
	resp, body := b.get("/admin/audit.csv?action=user.revoke_grants")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("export: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	lines := strings.Split(strings.TrimSpace(body), "\n")
	golden := "testdata/audit_csv_header.golden"
	if *update { // the -update flag of metadata_test.go
		if err := os.WriteFile(golden, []byte(lines[0]+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if lines[0] != strings.TrimSpace(string(want)) {
		t.Errorf("header: got %q, want %q", lines[0], want)
	}
	if len(lines) != 2 || !strings.Contains(lines[1], ",user.revoke_grants,") || !strings.Contains(lines[1], `'=HYPERLINK`) {
		t.Errorf("rows: %q", lines[1:])
	}
}
