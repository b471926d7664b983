package web_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/latchkey/latchkey/models"
)

// rowActions selects every row action and destructive button a page can
// have, by data-testid.
const rowActions = `[data-testid$="-revoke"],[data-testid$="-revoke-all"],[data-testid$="-revoke-client"],` +
	`[data-testid="client-rotate"],[data-testid="client-disable"],[data-testid="user-disable"],[data-testid="confirm-submit"],` +
	`[data-testid="confirm-cancel"],[data-testid="header-search-submit"],[data-testid="logout"],` +
	`[data-testid="stream-pause"],[data-testid="stream-enable"],[data-testid="stream-delete"]`

// viewports are the sizes every page is checked at: a laptop and a phone.
var viewports = []struct {
	name string
	w, h int64
}{{"1280", 1280, 800}, {"375", 375, 812}}

// fit is what the page measured: its width, the viewport's, and the row
// actions that stick out of the viewport sideways.
type fit struct {
	ScrollWidth int      `json:"scrollWidth"`
	InnerWidth  int      `json:"innerWidth"`
	Actions     int      `json:"actions"`
	Outside     []string `json:"outside"`
}

// measure reports whether the page fits its viewport.
func (j *journey) measure() fit {
	j.t.Helper()
	raw := j.eval(`JSON.stringify((() => {
		const w = window.innerWidth, out = [];
		const els = [...document.querySelectorAll('` + rowActions + `')].filter(e => e.getClientRects().length > 0);
		for (const e of els) {
			const r = e.getBoundingClientRect();
			if (r.left < 0 || r.right > w || r.width === 0) out.push(e.dataset.testid + ' [' + Math.round(r.left) + ', ' + Math.round(r.right) + ']');
		}
		return {scrollWidth: document.documentElement.scrollWidth, innerWidth: w, actions: els.length, outside: out};
	})())`)
	var f fit
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		j.t.Fatalf("measure: %v: %s", err, raw)
	}
	return f
}

// shoot saves the page at the current viewport, whole, as name.png.
func (j *journey) shoot(name string) {
	j.t.Helper()
	png, err := chromedp.Run(j.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		j.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(j.shot, name+".png"), png, 0o644); err != nil {
		j.t.Fatal(err)
	}
}

// TestBrowserEveryPageFits opens every staff page and the self-service
// page at 1280×800 and 375×812: nothing may scroll sideways, and every row
// action must lie inside the viewport. It saves a screenshot of each page
// at each size. Then it runs the incident journey on a phone: a token
// pasted as "Bearer …" into the header search, its grant revoked, and the
// card saying when, by whom and why.
func TestBrowserEveryPageFits(t *testing.T) {
	shots := screenshotDir(t)
	bctx := startChromium(t)
	ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	ctx, tcancel := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(tcancel)
	j := &journey{t: t, ctx: ctx, ts: newTestServer(t), shot: shots}
	ts := j.ts
	bg := context.Background()

	alice := ts.passwordToken(t, "alice")
	ts.passwordToken(t, "alice")
	ts.passwordToken(t, "bob")
	ts.passwordToken(t, "admin") // the admin's own self-service page lists an app
	gone := ts.passwordToken(t, "bob")
	info, err := ts.st.ActiveToken(bg, alice.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	goneInfo, err := ts.st.ActiveToken(bg, gone.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.st.Revoke(bg, models.RevokeRequest{GrantID: goneInfo.Token.GrantID, Actor: models.Staff(ts.f.Admin),
		Reason: "a long reason, to see how the audit page wraps it on a phone", Remote: "2001:db8:85a3::8a2e:370:7334"}); err != nil {
		t.Fatal(err)
	}
	// A long client name and username must not widen a phone's page.
	if _, err := ts.st.CreateClient(bg, models.NewClient{Name: "Acme Web Frontend for the Northern Region Customer Portal",
		Type: models.ClientConfidential, GrantTypes: []models.GrantType{models.GrantClientCredentials}}); err != nil {
		t.Fatal(err)
	}
	// An event stream with a long push URL, for the streams page.
	rx, err := ts.st.CreateClient(bg, models.NewClient{Name: "Northern Region Resource Server", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantClientCredentials}, SSF: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []models.StreamConfig{
		{Method: models.DeliveryPoll, Description: "guard on a very long host name of the northern region"},
		{Method: models.DeliveryPush, EndpointURL: "https://resource-server.northern-region.customer-portal.example.com/ssf/events/receiver",
			Description: "push receiver"},
	} {
		if _, err := ts.st.CreateStream(bg, rx.Client.ID, c); err != nil {
			t.Fatal(err)
		}
	}
	gid := strconv.FormatInt(info.Token.GrantID, 10)
	uid := strconv.FormatInt(ts.f.Alice.ID, 10)
	cid := strconv.FormatInt(ts.f.Confidential.ID, 10)
	j.login("admin")
	found := "/admin/tokens?grant=" + gid + "&found=" + strconv.FormatInt(info.Token.ID, 10)
	pages := []struct {
		name, path  string
		wantActions bool
	}{
		{"overview", "/admin/", false},
		{"tokens", "/admin/tokens", true},
		{"tokens-found", found, true},
		{"user", "/admin/users/" + uid, true},
		{"client", "/admin/clients/" + cid, true},
		{"clients", "/admin/clients", false},
		{"users", "/admin/users", false},
		{"audit", "/admin/audit", false},
		{"mass-revoke", "/admin/revoke", false},
		{"streams", "/admin/streams", true},
		{"confirm-mass-revoke", "/admin/revoke/confirm?scope=write", true},
		{"confirm-revoke-grant", "/admin/grants/" + gid + "/revoke?return_to=/admin/tokens", true},
		{"confirm-revoke-user", "/admin/users/" + uid + "/revoke", true},
		{"confirm-revoke-user-client", "/admin/users/" + uid + "/revoke?client=" + cid, true},
		{"confirm-disable-user", "/admin/users/" + uid + "/disable", true},
		{"confirm-revoke-client", "/admin/clients/" + cid + "/revoke", true},
		{"confirm-rotate", "/admin/clients/" + cid + "/rotate", true},
		{"confirm-disable-client", "/admin/clients/" + cid + "/disable", true},
		{"edit-client", "/admin/clients/" + cid + "/edit", false},
		{"edit-user", "/admin/users/" + uid + "/edit", false},
		{"self-service", "/o/authorized_tokens/", true},
		{"confirm-self-service", "/o/authorized_tokens/" + cid + "/delete/", true},
	}
	for _, vp := range viewports {
		j.do(chromedp.EmulateViewport(vp.w, vp.h))
		for _, p := range pages {
			j.open(p.path)
			f := j.measure()
			if f.ScrollWidth > f.InnerWidth {
				t.Errorf("%s at %s px: the page is %d px wide, it scrolls sideways", p.name, vp.name, f.ScrollWidth)
			}
			if len(f.Outside) > 0 {
				t.Errorf("%s at %s px: actions outside the viewport: %s", p.name, vp.name, strings.Join(f.Outside, ", "))
			}
			if p.wantActions && f.Actions < 3 { // header search, log out, and the page's own
				t.Errorf("%s at %s px: only %d actions found", p.name, vp.name, f.Actions)
			}
			j.shoot(p.name + "-" + vp.name)
		}
	}

	t.Run("incident journey on a phone", func(t *testing.T) {
		j.t = t
		j.do(chromedp.EmulateViewport(375, 812))
		j.open("/admin/audit")
		j.do(chromedp.SendKeys(tid("header-search-input"), "Bearer "+alice.AccessToken), chromedp.Click(tid("header-search-submit")),
			chromedp.WaitVisible(tid("found-token")))
		if loc := j.eval(`location.href`); strings.Contains(loc, alice.AccessToken) {
			t.Errorf("the token is in the URL")
		}
		if html := j.eval(`document.documentElement.outerHTML`); strings.Contains(html, alice.AccessToken) {
			t.Errorf("the pasted token is in the page")
		}
		if got := j.text(tid("found-status")); got != "active" {
			t.Errorf("found status: got %q", got)
		}
		j.do(chromedp.Click(tid("found-revoke")), chromedp.WaitVisible(tid("confirm")))
		if got := j.text(chromedp.CSS("#confirm-title")); got != "Revoke alice's grant at Confidential App?" {
			t.Errorf("confirmation title: got %q", got)
		}
		if f := j.measure(); f.ScrollWidth > f.InnerWidth || len(f.Outside) > 0 {
			t.Errorf("the confirmation does not fit a phone: %+v", f)
		}
		j.do(chromedp.SendKeys(tid("confirm-reason"), "leaked in a CI log"), chromedp.Click(tid("confirm-submit")))
		j.waitText("found-status", "revoked")
		j.do(chromedp.WaitVisible(tid("found-revoked")))
		if got := j.text(tid("found-revoked-by")); got != "admin" {
			t.Errorf("revoked by: got %q", got)
		}
		if got := j.text(tid("found-revoked-why")); got != "leaked in a CI log" {
			t.Errorf("revoked why: got %q", got)
		}
		if got := j.text(tid("found-revoked")); !strings.Contains(got, "UTC") || !strings.Contains(got, "just now") {
			t.Errorf("revoked when: got %q", got)
		}
		j.shoot("incident-revoked-375")
		ts.assertRevoked(t, alice)
	})
}
