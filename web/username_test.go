package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"golang.org/x/oauth2"
)

// TestUserPageLinksKeepThePlus follows every link on the page of a user
// named carl+ops: each reaches carl+ops's own data. Built unescaped, the
// links asked for "carl ops" ("+" is a space in a query string), a user
// who does not exist.
func TestUserPageLinksKeepThePlus(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.login("admin")
	const name = "carl+ops"
	_, html := b.get("/admin/users")
	resp, _ := b.post("/admin/users", url.Values{"csrf": {doc(t, html).Find(`meta[name="csrf-token"]`).AttrOr("content", "")},
		"username": {name}, "role": {"user"}, "password": {modelstest.Password}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create %s: got %d, want 303", name, resp.StatusCode)
	}
	carl := mustUser(t, ts, name)
	ts.passwordToken(t, "alice") // someone else's data, which no link may lead to
	ts.passwordToken(t, name)
	revoked := ts.passwordToken(t, name)
	info, err := ts.st.ActiveToken(context.Background(), revoked.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.st.Revoke(t.Context(), models.RevokeRequest{GrantID: info.Token.GrantID, Actor: models.Staff(ts.f.Admin), Reason: "test"}); err != nil {
		t.Fatal(err)
	}

	userPage := "/admin/users/" + strconv.FormatInt(carl.ID, 10)
	_, html = b.get(userPage)
	var links []string
	doc(t, html).Find("main a[href]").Each(func(_ int, a *goquery.Selection) {
		links = append(links, a.AttrOr("href", ""))
	})
	for _, id := range []string{"user-tokens-link", "user-audit-link"} {
		if doc(t, html).Find(`[data-testid="`+id+`"]`).Length() != 1 {
			t.Errorf("the user page has no %s", id)
		}
	}
	followed := 0
	for _, href := range links {
		u, err := url.Parse(href)
		if err != nil || u.IsAbs() || !strings.HasPrefix(u.Path, "/admin/") {
			t.Errorf("link %q: not a dashboard path", href)
			continue
		}
		t.Run(href, func(t *testing.T) {
			if q := u.Query(); q.Has("user") && q.Get("user") != name {
				t.Errorf("link %q asks for user %q, want %q", href, q.Get("user"), name)
			}
			resp, html := b.get(href)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: got %d, want 200", href, resp.StatusCode)
			}
			d := doc(t, html)
			if msg := d.Find(`[data-testid="filter-error"]`).Text(); msg != "" {
				t.Errorf("GET %s: the filter was refused: %q", href, msg)
			}
			// Every token or audit row it shows is carl+ops's.
			rows := d.Find(`[data-testid="token-row"], [data-testid="audit-row"]`)
			rows.Each(func(_ int, row *goquery.Selection) {
				if !strings.Contains(row.Find(`a[href^="/admin/users/"]`).Text(), name) {
					t.Errorf("GET %s: a row of someone else: %q", href, strings.Join(strings.Fields(row.Text()), " "))
				}
			})
			if u.Query().Has("user") {
				followed++
				if rows.Length() == 0 {
					t.Errorf("GET %s: no rows, want carl+ops's", href)
				}
				if got := d.Find(`[data-testid="filter-user"], input[name="user"]`).AttrOr("value", ""); got != name {
					t.Errorf("GET %s: the user filter reads %q, want %q", href, got, name)
				}
			}
		})
	}
	if followed < 2 {
		t.Errorf("followed %d links with a user filter, want the tokens and audit links (links: %q)", followed, links)
	}
}

// TestUsernamesAreCaseInsensitive: Alice, ALICE and alice are one account
// on the dashboard, at login and at the password grant.
func TestUsernamesAreCaseInsensitive(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.login("Admin")

	t.Run("creating ALICE beside alice is refused", func(t *testing.T) {
		_, html := b.get("/admin/users")
		before := ts.counts(t)
		resp, html := b.post("/admin/users", url.Values{"csrf": {doc(t, html).Find(`meta[name="csrf-token"]`).AttrOr("content", "")},
			"username": {"ALICE"}, "role": {"admin"}, "password": {"another-password"}})
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("create ALICE: got %d, want 422", resp.StatusCode)
		}
		if msg := doc(t, html).Find(`[data-testid="create-error"]`).Text(); !strings.Contains(msg, "already exists") {
			t.Errorf("message: got %q", msg)
		}
		if ts.counts(t) != before {
			t.Errorf("a refused user changed the database")
		}
	})
	t.Run("Alice logs in as alice", func(t *testing.T) {
		alice := newBrowser(t, ts)
		alice.login("Alice")
		_, html := alice.get("/o/authorized_tokens/")
		if got := doc(t, html).Find(`[data-testid="whoami"]`).Text(); got != "alice" {
			t.Errorf("logged in as: got %q, want alice", got)
		}
	})
	t.Run("the password grant takes ALICE", func(t *testing.T) {
		tok := ts.passwordToken(t, "ALICE")
		if status, me, _ := ts.me(t, tok.AccessToken); status != 200 || me["user"] != "alice" {
			t.Errorf("/api/me: got %d %v, want user alice", status, me)
		}
		_, html := b.get("/admin/tokens?" + url.Values{"user": {"ALICE"}}.Encode())
		d := doc(t, html)
		if d.Find(`[data-testid="filter-error"]`).Length() != 0 || d.Find(`[data-testid="token-row"]`).Length() == 0 {
			t.Errorf("the tokens filter does not find alice's tokens as ALICE")
		}
	})
	t.Run("a wrong password in another case is still wrong", func(t *testing.T) {
		cfg := oauth2.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint()}
		_, err := cfg.PasswordCredentialsToken(ts.ctx(), "ALICE", "wrong password")
		assertRetrieveError(t, err, "invalid_grant")
	})
}
