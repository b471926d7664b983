package web_test

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
)

// TestUsersPagination checks the pager through a real list: the next link
// appears only when there is a next page, carries the keyset cursor (the
// last row's id) and keeps the filters.
func TestUsersPagination(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	for i := range 49 { // with alice and bob, 51 users: one more than a page
		if _, err := ts.st.CreateUser(context.Background(), fmt.Sprintf("user%02d", i), models.RoleUser, modelstest.Password); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, ts)
	b.login("admin")
	_, html := b.get("/admin/users?role=user")
	d := doc(t, html)
	rows := d.Find(`[data-testid="user-row"]`)
	if rows.Length() != 50 {
		t.Fatalf("rows: got %d, want 50", rows.Length())
	}
	lastID := rows.Last().Find("a").AttrOr("href", "")
	next := d.Find(`[data-testid="page-next"]`).AttrOr("href", "")
	u, err := url.Parse(next)
	if err != nil || next == "" {
		t.Fatalf("no next link on a full page")
	}
	if "/admin/users/"+u.Query().Get("before") != lastID || u.Query().Get("role") != "user" {
		t.Errorf("next link: got %q, want the cursor of the last row (%s) and role=user", next, lastID)
	}
	if d.Find(`[data-testid="page-first"]`).Length() != 0 {
		t.Errorf("a first-page link on the first page")
	}
	_, html = b.get(next)
	d = doc(t, html)
	if n := d.Find(`[data-testid="user-row"]`).Length(); n != 1 {
		t.Errorf("second page rows: got %d, want 1", n)
	}
	if d.Find(`[data-testid="page-next"]`).Length() != 0 {
		t.Errorf("a next link on the last page")
	}
	if got := d.Find(`[data-testid="page-first"]`).AttrOr("href", ""); got != "/admin/users?role=user" {
		t.Errorf("first link: got %q", got)
	}
}
