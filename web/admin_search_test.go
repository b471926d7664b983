package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/models"
)

// searchPost presses the header's search box on page with q typed in.
func searchPost(t *testing.T, b *browser, page, q string) (*http.Response, string) {
	t.Helper()
	_, html := b.get(page)
	d := doc(t, html)
	if d.Find(`[data-testid="header-search"]`).Length() != 1 || d.Find(`[data-testid="header-search-input"]`).AttrOr("name", "") != "q" {
		t.Fatalf("%s has no header search box", page)
	}
	if m := d.Find(`[data-testid="header-search"]`).AttrOr("method", ""); m != "post" {
		t.Fatalf("header search method: got %q, want post (a token must not go in a URL)", m)
	}
	form := formFields(t, html, "/admin/search")
	form.Set("q", q)
	return b.post("/admin/search", form)
}

// TestHeaderSearch is the search box in the header of every staff page: a
// token in any pasted form, a username, a client name or client_id goes
// straight to its page; several matches list them; a miss says what was
// typed (escaped), except a token, which is never echoed.
func TestHeaderSearch(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	b := newBrowser(t, ts)
	b.login("admin")
	info, err := ts.st.ActiveToken(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	found := "/admin/tokens?grant=" + strconv.FormatInt(info.Token.GrantID, 10) + "&found="
	user := "/admin/users/" + strconv.FormatInt(ts.f.Alice.ID, 10)
	client := "/admin/clients/" + strconv.FormatInt(ts.f.Confidential.ID, 10)
	cid := strconv.FormatInt(ts.f.Confidential.ID, 10)
	pages := []string{"/admin/", "/admin/tokens", "/admin/users", user, "/admin/clients", client, "/admin/audit", "/admin/grants/" +
		strconv.FormatInt(info.Token.GrantID, 10) + "/revoke", "/admin/clients/" + cid + "/disable"}
	for i, tc := range []struct {
		name, q, wantLoc string
	}{
		{"bare token", tok.AccessToken, found},
		{"bearer", "Bearer " + tok.AccessToken, found},
		{"bearer lower case", "bearer " + tok.RefreshToken, found},
		{"header line", "Authorization: Bearer " + tok.AccessToken, found},
		{"quoted header from a log", `  "authorization: Bearer ` + tok.AccessToken + `",` + "\n", found},
		{"single quotes and tabs", "\t'Bearer " + tok.AccessToken + "'\t", found},
		{"a whole curl line", `curl -H "Authorization: Bearer ` + tok.AccessToken + `" https://api.example.com/v1/me`, found},
		{"username", "alice", user},
		{"username in another case", "ALICE", user},
		{"client name", "Confidential App", client},
		{"client name in another case", "confidential app", client},
		{"client_id", ts.f.Confidential.ClientID, client},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := searchPost(t, b, pages[i%len(pages)], tc.q)
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, tc.wantLoc) {
				t.Fatalf("got %d %q, want 303 to %s: %s", resp.StatusCode, loc, tc.wantLoc, body)
			}
			if strings.Contains(loc, tok.AccessToken) || strings.Contains(loc, tok.RefreshToken) {
				t.Errorf("the token is in the URL")
			}
			if resp, _ := b.get(loc); resp.StatusCode != http.StatusOK {
				t.Errorf("%s: got %d", loc, resp.StatusCode)
			}
		})
	}

	t.Run("several matches are listed", func(t *testing.T) {
		resp, html := searchPost(t, b, "/admin/", "app") // Confidential App, Public App, Other App
		d := doc(t, html)
		if resp.StatusCode != http.StatusOK || d.Find(`[data-testid="search-client"]`).Length() != 3 {
			t.Fatalf("got %d with %d clients: %s", resp.StatusCode, d.Find(`[data-testid="search-client"]`).Length(), html)
		}
		href := d.Find(`[data-testid="search-client"]`).First().AttrOr("href", "")
		if r, _ := b.get(href); r.StatusCode != http.StatusOK {
			t.Errorf("result link %s: got %d", href, r.StatusCode)
		}
	})
	t.Run("a miss echoes what was typed, escaped", func(t *testing.T) {
		resp, html := searchPost(t, b, "/admin/", `<b>nobody</b>`)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(doc(t, html).Find(`[data-testid="search-empty"]`).Text(), "<b>nobody</b>") ||
			strings.Contains(html, "<b>nobody</b>") {
			t.Errorf("got %d: %s", resp.StatusCode, html)
		}
	})
	t.Run("an unknown token is not echoed", func(t *testing.T) {
		fake := "lk_at_" + strings.Repeat("Q", 43)
		resp, html := searchPost(t, b, "/admin/", "Bearer "+fake)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(html, `data-testid="search-message"`) || strings.Contains(html, strings.Repeat("Q", 43)) {
			t.Errorf("got %d: %s", resp.StatusCode, html)
		}
	})
	t.Run("an unknown token inside a pasted line is not echoed", func(t *testing.T) {
		fake := "lk_at_" + strings.Repeat("R", 43)
		for _, q := range []string{`curl -H "Authorization: Bearer ` + fake + `" https://api.example.com`, "token " + strings.Repeat("S", 43) + " leaked"} {
			resp, html := searchPost(t, b, "/admin/", q)
			if resp.StatusCode != http.StatusNotFound || strings.Contains(html, strings.Repeat("R", 43)) || strings.Contains(html, strings.Repeat("S", 43)) {
				t.Errorf("%q: got %d, and the page must not hold the token: %s", q, resp.StatusCode, html)
			}
		}
	})
	t.Run("without the CSRF token the search is refused", func(t *testing.T) {
		resp, _ := b.post("/admin/search", url.Values{"q": {"alice"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("got %d, want 403", resp.StatusCode)
		}
	})
	t.Run("an auditor may search", func(t *testing.T) {
		aud := newStaff(t, ts, "audrey", models.RoleAuditor)
		resp, _ := searchPost(t, aud, "/admin/audit", "Bearer "+tok.AccessToken)
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("got %d, want 303", resp.StatusCode)
		}
	})
	t.Run("a user sees no search box and may not search", func(t *testing.T) {
		alice := newBrowser(t, ts)
		alice.login("alice")
		_, html := alice.get("/o/authorized_tokens/")
		if strings.Contains(html, `data-testid="header-search"`) {
			t.Errorf("an end user sees the staff search box")
		}
		form := formFields(t, html, "/logout")
		form.Set("q", "alice")
		if resp, _ := alice.post("/admin/search", form); resp.StatusCode != http.StatusForbidden {
			t.Errorf("got %d, want 403", resp.StatusCode)
		}
	})
}

// TestFoundRevokedToken: a token found after its grant was revoked says
// when, by whom and why, whichever way it was revoked.
func TestFoundRevokedToken(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	b := newBrowser(t, ts)
	b.login("admin")
	ctx := context.Background()
	tests := []struct {
		name    string
		revoke  func(grantID int64) error
		wantWho string
		wantWhy string
	}{
		{"one grant, from the dashboard", func(g int64) error {
			_, err := ts.st.Revoke(ctx, models.RevokeRequest{GrantID: g, Actor: models.Staff(ts.f.Admin), Reason: "pasted in chat"})
			return err
		}, "admin", "pasted in chat"},
		{"all of the user's grants, from the command line", func(int64) error {
			_, err := ts.st.Revoke(ctx, models.RevokeRequest{UserID: ts.f.Alice.ID, Actor: models.CLI("root"), Reason: "offboarding"})
			return err
		}, "cli:root", "offboarding"},
		{"by the client itself", func(int64) error { return nil }, "Confidential App", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := ts.passwordToken(t, "alice")
			info, err := ts.st.ActiveToken(ctx, tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantWho == "Confidential App" {
				_, err = ts.st.Revoke(ctx, models.RevokeRequest{Token: tok.RefreshToken, AsClient: ts.f.Confidential,
					Actor: models.AsClient(ts.f.Confidential)})
			} else {
				err = tc.revoke(info.Token.GrantID)
			}
			if err != nil {
				t.Fatal(err)
			}
			resp, _ := searchPost(t, b, "/admin/tokens", "Authorization: Bearer "+tok.AccessToken)
			_, html := b.get(resp.Header.Get("Location"))
			d := doc(t, html)
			card := d.Find(`[data-testid="found-revoked"]`)
			if card.Length() != 1 {
				t.Fatalf("no revoked line on the card: %s", html)
			}
			if got := card.Find(`[data-testid="found-revoked-by"]`).Text(); got != tc.wantWho {
				t.Errorf("by: got %q, want %q", got, tc.wantWho)
			}
			if got := card.Find(`[data-testid="found-revoked-why"]`).Text(); got != tc.wantWhy {
				t.Errorf("why: got %q, want %q", got, tc.wantWhy)
			}
			if txt := card.Text(); !strings.Contains(txt, "UTC") || !strings.Contains(txt, "just now") {
				t.Errorf("when: %q lacks the UTC time and the relative one", txt)
			}
		})
	}
}

// TestPasteBoxReadsHeaders: the Tokens page's paste box reads a pasted
// header as the header search does.
func TestPasteBoxReadsHeaders(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	b := newBrowser(t, ts)
	b.login("admin")
	_, html := b.get("/admin/tokens")
	form := formFields(t, html, "/admin/tokens/find")
	form.Set("token", ` "Authorization: Bearer `+tok.AccessToken+`" `)
	resp, _ := b.post("/admin/tokens/find", form)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "found=") {
		t.Fatalf("got %d %q", resp.StatusCode, loc)
	}
}
