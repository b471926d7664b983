package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
)

// TestFirstAdminSetup follows the one-time link `latchkey serve` prints on a
// database with no admin: it creates the first admin once, and never again.
func TestFirstAdminSetup(t *testing.T) {
	t.Parallel()
	st := modelstest.NewStore(t)
	ts := startServer(t, st, nil, web.Config{}, nil)
	raw, err := st.CreateSetupToken(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ts)

	if resp, _ := b.get("/setup?token=lk_su_wrong"); resp.StatusCode != 404 {
		t.Errorf("a wrong setup link: %d, want 404", resp.StatusCode)
	}
	resp, html := b.get("/setup?token=" + url.QueryEscape(raw))
	if resp.StatusCode != 200 {
		t.Fatalf("setup page: %d", resp.StatusCode)
	}
	form := formFields(t, html, "/setup")
	form.Set("username", "root")
	form.Set("password", "short")
	if resp, body := b.post("/setup", form); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "at least 8") {
		t.Errorf("a short password: %d", resp.StatusCode)
	}
	if ok, _ := st.HasAdmin(context.Background()); ok {
		t.Fatal("a refused setup created an admin")
	}
	form.Set("password", "a long enough password")
	resp, _ = b.post("/setup", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/" {
		t.Fatalf("setup: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if resp, _ := b.get("/admin/"); resp.StatusCode != 200 {
		t.Errorf("the new admin is not logged in: /admin/ %d", resp.StatusCode)
	}
	if _, err := st.Authenticate(context.Background(), "root", "a long enough password"); err != nil {
		t.Errorf("the admin cannot log in: %v", err)
	}
	// The auditors see who created the first admin, and its first login,
	// as they see every other staff action and login.
	for _, action := range []models.Action{models.ActionUserCreate, models.ActionStaffLogin} {
		p, err := st.AuditEvents(context.Background(), models.AuditFilter{Action: action}, models.Cursor{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Rows) != 1 || p.Rows[0].Actor != "root" || p.Rows[0].RemoteAddr == "" || p.Rows[0].RequestID == "" {
			t.Errorf("%s events after the setup: %+v, want one by root with its address and request id", action, p.Rows)
		}
	}
	// The link works once.
	if resp, _ := newBrowser(t, ts).get("/setup?token=" + url.QueryEscape(raw)); resp.StatusCode != 404 {
		t.Errorf("the used link: %d, want 404", resp.StatusCode)
	}
	form.Set("username", "second")
	// Logging in changed the form token (it is bound to the session).
	_, html = b.get("/admin/")
	form.Set("csrf", doc(t, html).Find(`meta[name="csrf-token"]`).AttrOr("content", ""))
	if resp, _ := b.post("/setup", form); resp.StatusCode != 404 {
		t.Errorf("posting the used link again: %d, want 404", resp.StatusCode)
	}
}
