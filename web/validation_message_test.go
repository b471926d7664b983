package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestFormShowsValidationMessage creates users with bad input from the
// dashboard's form: the page shows the models.ValidationError's message,
// as written for a person, and never the error's internal text.
func TestFormShowsValidationMessage(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.login("admin")
	for _, tc := range []struct{ name, username, password, want string }{
		{"bad username", "al ice", "correct horse", "Username must be 1-150 letters"},
		{"short password", "carol", "short", "Password must be at least 8 characters."},
		{"taken username", "alice", "correct horse", "A user with that name already exists."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, html := b.get("/admin/users")
			page, err := goquery.NewDocumentFromReader(strings.NewReader(html))
			if err != nil {
				t.Fatal(err)
			}
			csrf, _ := page.Find(`form[method="post"][action="/admin/users"] input[name="csrf"]`).Attr("value")
			form := url.Values{"csrf": {csrf}}
			form.Set("username", tc.username)
			form.Set("password", tc.password)
			form.Set("role", "user")
			resp, body := b.post("/admin/users", form)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422", resp.StatusCode)
			}
			doc, err := goquery.NewDocumentFromReader(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			msg := strings.TrimSpace(doc.Find(`[data-testid="create-error"]`).Text())
			if !strings.HasPrefix(msg, tc.want) {
				t.Errorf("message %q, want it to start with %q", msg, tc.want)
			}
			if strings.Contains(body, "models:") {
				t.Errorf("the page shows an internal error text: %q", msg)
			}
		})
	}
}
