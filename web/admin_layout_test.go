package web_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/latchkey/latchkey/models"
)

// TestLayoutDefects pins the layout defects found on the dashboard: words
// run together, an empty row spanning more columns than the table has,
// addresses allowed to wrap, two statuses that look alike, two words for
// one status, and times without a zone or a relative time.
func TestLayoutDefects(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	ts.passwordToken(t, "alice")
	if _, err := ts.st.Revoke(context.Background(), models.RevokeRequest{UserID: ts.f.Bob.ID, Actor: models.Staff(ts.f.Admin), Remote: "203.0.113.77"}); err != nil {
		t.Fatal(err)
	}
	admin := newBrowser(t, ts)
	admin.login("admin")
	aud := newStaff(t, ts, "audrey", models.RoleAuditor)
	user := "/admin/users/" + strconv.FormatInt(ts.f.Alice.ID, 10)

	t.Run("words are spaced on the user page", func(t *testing.T) {
		_, html := admin.get(user)
		got := strings.Join(strings.Fields(doc(t, html).Find(`[data-testid="user-facts"]`).Text()), " ")
		if !strings.Contains(got, "created 20") || !strings.Contains(got, " UTC · All of this user's tokens · Audit trail") {
			t.Errorf("got %q", got)
		}
	})
	t.Run("an empty row spans exactly the table's columns", func(t *testing.T) {
		for _, b := range []*browser{admin, aud} {
			for _, p := range []string{"/admin/tokens?status=revoked&user=alice", "/admin/users/" + strconv.FormatInt(ts.f.Bob.ID, 10),
				"/admin/clients/" + strconv.FormatInt(ts.f.Other.ID, 10)} {
				_, html := b.get(p)
				d := doc(t, html)
				d.Find("td[colspan]").Each(func(_ int, td *goquery.Selection) {
					table := td.Closest("table")
					want := table.Find("thead tr").First().Children().Length()
					if got := td.AttrOr("colspan", ""); got != strconv.Itoa(want) {
						t.Errorf("%s: colspan %s on a %d-column table", p, got, want)
					}
				})
			}
		}
	})
	t.Run("addresses do not wrap", func(t *testing.T) {
		_, html := admin.get("/admin/audit")
		ip := doc(t, html).Find(`[data-testid="audit-ip"]`).FilterFunction(func(_ int, s *goquery.Selection) bool {
			return s.Text() == "203.0.113.77"
		})
		if ip.Length() != 1 || !ip.HasClass("ip") {
			t.Errorf("address cell: %d, class %q", ip.Length(), ip.AttrOr("class", ""))
		}
		css := staticCSS(t, admin, html)
		if !strings.Contains(css, ".ip,\ntime { white-space: nowrap;") {
			t.Errorf("app.css does not keep .ip on one line")
		}
	})
	t.Run("relative times beside UTC on token rows, sessions and the audit page", func(t *testing.T) {
		for p, cell := range map[string]string{"/admin/tokens": `[data-testid="token-issued"]`, user: `[data-testid="grant-row"] td[data-label="Issued"]`,
			"/admin/audit": `[data-testid="audit-when"]`} {
			_, html := admin.get(p)
			c := doc(t, html).Find(cell).First().Find(".when").First() // the cell may go on with where from
			if got := strings.Join(strings.Fields(c.Text()), " "); !strings.HasSuffix(got, "UTC just now") {
				t.Errorf("%s: got %q, want the UTC time and 'just now'", p, got)
			}
		}
	})
	t.Run("one word for an enabled user", func(t *testing.T) {
		_, list := admin.get("/admin/users?q=alice")
		_, page := admin.get(user)
		if a, b := doc(t, list).Find(`[data-testid="user-row-status"] [data-testid="status"]`).Text(), doc(t, page).Find(`[data-testid="user-status"] [data-testid="status"]`).Text(); a != "active" || b != "active" {
			t.Errorf("list says %q, page says %q; want active on both", a, b)
		}
	})
}

// staticCSS fetches the page's app.css.
func staticCSS(t *testing.T, b *browser, html string) string {
	t.Helper()
	href := ""
	doc(t, html).Find(`link[rel="stylesheet"]`).Each(func(_ int, l *goquery.Selection) {
		if h := l.AttrOr("href", ""); strings.HasSuffix(h, "/app.css") {
			href = h
		}
	})
	_, css := b.get(href)
	return css
}
