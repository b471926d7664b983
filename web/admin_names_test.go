package web_test

import (
	"context"
	"database/sql"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// execRaw runs SQL on the test server's database behind the store's back,
// as data left by an older version would be.
func execRaw(t *testing.T, ts *testServer, q string, args ...any) {
	t.Helper()
	driver, dsn := "sqlite3", "file:"+ts.db+"?_busy_timeout=5000"
	if modelstest.OnPostgres() {
		driver, dsn = "pgx", ts.db
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if driver == "pgx" {
		q = strings.ReplaceAll(q, "?", "$1") // one placeholder at most here
	}
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// TestClientFilterTakesNames: the client filters of the tokens and audit
// pages take a client's name as well as its client_id; an ambiguous name
// lists the clients it could be; a miss echoes what was typed, escaped.
func TestClientFilterTakesNames(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.passwordToken(t, "alice")
	if _, err := ts.st.Revoke(context.Background(), models.RevokeRequest{ClientID: ts.f.Confidential.ID, Actor: models.Staff(ts.f.Admin)}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ts)
	b.login("admin")
	for _, page := range []string{"/admin/tokens", "/admin/audit"} {
		row := map[string]string{"/admin/tokens": "token-row", "/admin/audit": "audit-row"}[page]
		for _, typed := range []string{"Confidential App", "confidential app", ts.f.Confidential.ClientID} {
			_, html := b.get(page + "?" + url.Values{"client": {typed}}.Encode())
			d := doc(t, html)
			if d.Find(`[data-testid="filter-error"]`).Length() != 0 || d.Find(`[data-testid="`+row+`"]`).Length() == 0 {
				t.Errorf("%s with client %q: no rows or an error: %s", page, typed, d.Find(`[data-testid="filter-error"]`).Text())
			}
		}
		_, html := b.get(page + "?" + url.Values{"client": {"<i>Acme Web</i>"}}.Encode())
		if got := doc(t, html).Find(`[data-testid="filter-error"]`).Text(); !strings.Contains(got, `"<i>Acme Web</i>"`) || strings.Contains(html, "<i>Acme Web</i>") {
			t.Errorf("%s miss: got %q, want what was typed, escaped", page, got)
		}
	}
	// Two clients sharing a name, as data from before names were unique.
	execRaw(t, ts, "UPDATE clients SET name = ? WHERE id = "+strconv.FormatInt(ts.f.Other.ID, 10), "Confidential App")
	_, html := b.get("/admin/tokens?client=Confidential+App")
	got := doc(t, html).Find(`[data-testid="filter-error"]`).Text()
	if !strings.Contains(got, "Several clients") || !strings.Contains(got, ts.f.Confidential.ClientID) || !strings.Contains(got, ts.f.Other.ClientID) {
		t.Errorf("ambiguous name: got %q", got)
	}
	_, html = b.get("/admin/tokens?client=" + url.QueryEscape(ts.f.Other.ClientID))
	if doc(t, html).Find(`[data-testid="filter-error"]`).Length() != 0 {
		t.Errorf("a client_id is never ambiguous")
	}
}

// TestAuditWhoShowsNames: the audit page's "who" names clients by name
// (the client_id beside it), staff by username, Latchkey by what it was
// doing; never "system system".
func TestAuditWhoShowsNames(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ctx := context.Background()
	a, c, s := ts.passwordToken(t, "alice"), ts.passwordToken(t, "bob"), ts.passwordToken(t, "alice")
	_ = a
	if _, err := ts.st.Revoke(ctx, models.RevokeRequest{Token: c.AccessToken, AsClient: ts.f.Confidential, Actor: models.AsClient(ts.f.Confidential)}); err != nil {
		t.Fatal(err)
	}
	info, err := ts.st.ActiveToken(ctx, s.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.st.Revoke(ctx, models.RevokeRequest{GrantID: info.Token.GrantID, Actor: models.System(), Action: models.ActionRefreshReuse}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, ts)
	b.login("admin")
	_, html := b.get("/admin/audit")
	d := doc(t, html)
	var who []string
	d.Find(`[data-testid="audit-row"]`).Each(func(_ int, r *goquery.Selection) {
		who = append(who, strings.Join(strings.Fields(r.Find(`td[data-label="Who"]`).Text()), " "))
	})
	want := []string{"admin staff", "Latchkey (reuse detection)", "Confidential App client " + ts.f.Confidential.ClientID}
	if strings.Join(who, " | ") != strings.Join(want, " | ") {
		t.Errorf("who: got %q, want %q", who, want)
	}
	if strings.Contains(html, "system system") || strings.Contains(d.Text(), "system system") {
		t.Errorf(`the page says "system system"`)
	}
}

// TestListsShowCountsAndSearch: the client and user lists show each row's
// active grants and last use or login, and search.
func TestListsShowCountsAndSearch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	ts.passwordToken(t, "alice")
	ts.passwordToken(t, "bob")
	if code, _, _ := ts.me(t, tok.AccessToken); code != 200 {
		t.Fatalf("/api/me: %d", code)
	}
	newBrowser(t, ts).login("alice") // alice logs in: her last login is now
	b := newBrowser(t, ts)
	b.login("admin")

	// Last use is written in the background, once a second.
	var row *goquery.Selection
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, html := b.get("/admin/clients")
		row = doc(t, html).Find(`[data-testid="client-row"]`).FilterFunction(func(_ int, s *goquery.Selection) bool {
			return s.Find(`[data-testid="client-link"]`).Text() == "Confidential App"
		})
		if row.Find(`[data-testid="client-last-used"] [data-testid="ago"]`).Length() > 0 || time.Now().After(deadline) {
			break
		}
	}
	if got := row.Find(`[data-testid="client-active-grants"]`).Text(); got != "3" {
		t.Errorf("Confidential App's active grants: got %q, want 3", got)
	}
	if got := row.Find(`[data-testid="client-last-used"] [data-testid="ago"]`).Text(); got != "just now" {
		t.Errorf("Confidential App's last use: got %q, want just now", got)
	}
	_, html := b.get("/admin/clients?q=public")
	if d := doc(t, html); d.Find(`[data-testid="client-row"]`).Length() != 1 || d.Find(`[data-testid="client-link"]`).Text() != "Public App" {
		t.Errorf("search public: got %d rows", d.Find(`[data-testid="client-row"]`).Length())
	}
	_, html = b.get("/admin/clients?q=" + url.QueryEscape(ts.f.Other.ClientID))
	if d := doc(t, html); d.Find(`[data-testid="client-link"]`).Text() != "Other App" {
		t.Errorf("search by client_id: got %q", d.Find(`[data-testid="client-link"]`).Text())
	}
	_, html = b.get("/admin/clients?q=" + url.QueryEscape("<b>x"))
	if d := doc(t, html); !strings.Contains(d.Find(`[data-testid="clients-empty"]`).Text(), "<b>x") {
		t.Errorf("a miss must say what was typed")
	}

	_, html = b.get("/admin/users?q=ali")
	d := doc(t, html)
	if got := d.Find(`[data-testid="user-active-grants"]`).Text(); got != "2" {
		t.Errorf("alice's active grants: got %q, want 2", got)
	}
	if got := d.Find(`[data-testid="user-last-login"] [data-testid="ago"]`).Text(); got != "just now" {
		t.Errorf("alice's last login: got %q, want just now", got)
	}
	_, html = b.get("/admin/users?q=bob")
	if got := doc(t, html).Find(`[data-testid="user-last-login"]`).Text(); strings.TrimSpace(got) != "—" {
		t.Errorf("bob never logged in: got %q", got)
	}
	if got := doc(t, html).Find(`[data-testid="user-row-status"]`).Text(); strings.TrimSpace(got) != "active" {
		t.Errorf("status word: got %q, want active (as on the user's page)", got)
	}
}

// TestDuplicateClientNames: a client name is refused on create and on edit
// when another client has it, in any case, with a message naming the
// other client.
func TestDuplicateClientNames(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.login("admin")
	_, html := b.get("/admin/clients")
	form := formFields(t, html, "/admin/clients")
	form.Set("name", "  public app ")
	form.Set("type", "public")
	form.Set("grant", "refresh_token")
	form.Set("scope", "read")
	resp, html := b.post("/admin/clients", form)
	got := doc(t, html).Find(`[data-testid="create-error"]`).Text()
	if resp.StatusCode != 422 || !strings.Contains(got, "already named") || !strings.Contains(got, ts.f.Public.ClientID) {
		t.Errorf("create a duplicate: got %d %q", resp.StatusCode, got)
	}
	edit := "/admin/clients/" + strconv.FormatInt(ts.f.Other.ID, 10) + "/edit"
	_, html = b.get(edit)
	form = formFields(t, html, edit)
	form.Set("name", "CONFIDENTIAL APP")
	form.Set("grant", "client_credentials")
	resp, html = b.post(edit, form)
	got = doc(t, html).Find(`[data-testid="edit-error"]`).Text()
	if resp.StatusCode != 422 || !strings.Contains(got, "already named") {
		t.Errorf("rename to a duplicate: got %d %q", resp.StatusCode, got)
	}
	// Keeping its own name is not a duplicate.
	form.Set("name", "Other App")
	if resp, body := b.post(edit, form); resp.StatusCode != 303 {
		t.Errorf("save under its own name: got %d: %s", resp.StatusCode, body)
	}
}
