package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// TestActionHierarchy: destructive actions look dangerous and say what
// they revoke; the confirmation names the user and the client, puts the
// red action first and Cancel after it as a plain link; Log out is quiet.
func TestActionHierarchy(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	tok := ts.passwordToken(t, "alice")
	info, err := ts.st.ActiveToken(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	gid := strconv.FormatInt(info.Token.GrantID, 10)
	b := newBrowser(t, ts)
	b.login("admin")
	user := "/admin/users/" + strconv.FormatInt(ts.f.Alice.ID, 10)
	client := "/admin/clients/" + strconv.FormatInt(ts.f.Confidential.ID, 10)
	for _, tc := range []struct {
		page, testid, label string
		danger              bool
	}{
		{"/admin/tokens", "token-revoke", "Revoke grant", true},
		{user, "grant-revoke", "Revoke session", true},
		{user, "user-revoke-all", "Revoke all of this user's grants…", true},
		{user, "user-revoke-client", "Revoke all for this client", true},
		{user, "user-disable", "Disable…", true},
		{client, "grant-revoke", "Revoke session", true},
		{client, "client-revoke-all", "Revoke all of this client's tokens…", true},
		{client, "client-rotate", "Rotate secret…", true},
		{client, "client-disable", "Disable…", true},
		{client, "client-edit", "Edit settings…", false},
		{user, "user-edit", "Edit role or password…", false},
	} {
		_, html := b.get(tc.page)
		btn := doc(t, html).Find(`[data-testid="` + tc.testid + `"]`).First()
		if btn.Length() == 0 {
			t.Errorf("%s: no %s", tc.page, tc.testid)
			continue
		}
		label := strings.TrimSpace(btn.Clone().Children().Remove().End().Text())
		if label != tc.label {
			t.Errorf("%s %s: label %q, want %q", tc.page, tc.testid, label, tc.label)
		}
		if btn.HasClass("danger") != tc.danger {
			t.Errorf("%s %s: class %q, danger should be %v", tc.page, tc.testid, btn.AttrOr("class", ""), tc.danger)
		}
		if tc.danger {
			// Pressing it opens the confirmation (the no-JavaScript path):
			// a GET of the form's action with its fields, as a browser sends.
			form := btn.Closest("form")
			q := url.Values{}
			form.Find("input").Each(func(_ int, in *goquery.Selection) { q.Add(in.AttrOr("name", ""), in.AttrOr("value", "")) })
			resp, body := b.get(form.AttrOr("action", "") + "?" + q.Encode())
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `data-testid="confirm"`) {
				t.Errorf("%s %s: pressing it: got %d", tc.page, tc.testid, resp.StatusCode)
			}
			if tc.testid == "user-revoke-client" && !strings.Contains(doc(t, body).Find("#confirm-title").Text(), "at Confidential App") {
				t.Errorf("revoke for one client opened %q: the client was lost", doc(t, body).Find("#confirm-title").Text())
			}
		}
	}

	_, html := b.get("/admin/grants/" + gid + "/revoke?return_to=/admin/tokens")
	d := doc(t, html)
	if got := d.Find("#confirm-title").Text(); got != "Revoke alice's grant at Confidential App?" {
		t.Errorf("title: got %q", got)
	}
	submit, cancel := d.Find(`[data-testid="confirm-submit"]`), d.Find(`[data-testid="confirm-cancel"]`)
	if !submit.HasClass("danger") {
		t.Errorf("submit: class %q, want danger", submit.AttrOr("class", ""))
	}
	if cancel.AttrOr("role", "") == "button" || cancel.HasClass("primary") {
		t.Errorf("Cancel looks like a button: %q", cancel.AttrOr("class", ""))
	}
	if submit.NextAll().Filter(`[data-testid="confirm-cancel"]`).Length() != 1 {
		t.Errorf("Cancel must come after the red action")
	}
	if resp, _ := b.get(cancel.AttrOr("href", "")); resp.StatusCode != http.StatusOK {
		t.Errorf("pressing Cancel: got %d", resp.StatusCode)
	}
	if _, html := b.get("/admin/grants/999999/revoke"); !strings.Contains(html, "no such grant") {
		t.Errorf("unknown grant: want a 404 page")
	}

	logout := d.Find(`[data-testid="logout"]`)
	if strings.TrimSpace(logout.Text()) != "Log out" || !logout.HasClass("link") {
		t.Errorf("Log out: %q class %q, want a quiet link-style button", logout.Text(), logout.AttrOr("class", ""))
	}
	if got := d.Find(`[data-testid="whoami"]`).Text(); got != "admin" {
		t.Errorf("who is logged in: got %q", got)
	}
}
