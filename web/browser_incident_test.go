package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"
)

// TestBrowserMassRevocationAndSignals drives Chromium at 1280×800 and
// 375×812 through two incident journeys: a mass revocation by scope (the
// form, the confirmation with its preview, the revocation; then the
// revoked tokens fail at /api/me and the others work), and the overview's
// signals panel after a refresh-token reuse, whose link leads to the
// audit events. Each page must fit the viewport; screenshots are saved.
func TestBrowserMassRevocationAndSignals(t *testing.T) {
	shots := screenshotDir(t)
	bctx := startChromium(t)
	for _, vp := range viewports {
		t.Run(vp.name, func(t *testing.T) {
			ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
			t.Cleanup(cancel)
			ctx, tcancel := context.WithTimeout(ctx, 2*time.Minute)
			t.Cleanup(tcancel)
			j := &journey{t: t, ctx: ctx, ts: newTestServer(t), shot: shots}
			ts := j.ts
			fits := func(what string) {
				t.Helper()
				if f := j.measure(); f.ScrollWidth > f.InnerWidth || len(f.Outside) > 0 {
					t.Errorf("%s at %s px does not fit: %+v", what, vp.name, f)
				}
			}
			scoped := func(user string, scopes ...string) *oauth2.Token {
				cfg := oauth2.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint(), Scopes: scopes}
				tok, err := cfg.PasswordCredentialsToken(ts.ctx(), user, "correct horse battery")
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			writers := []*oauth2.Token{scoped("alice", "write"), scoped("bob", "read", "write")}
			reader := scoped("alice", "read")
			j.do(chromedp.EmulateViewport(vp.w, vp.h))
			j.login("admin")

			// Mass revocation by scope, with its preview.
			j.open("/admin/")
			j.do(chromedp.Click(tid("mass-revoke-link")), chromedp.WaitVisible(tid("mass-revoke-form")))
			j.do(chromedp.SendKeys(tid("mass-scope"), "write"), chromedp.Click(tid("mass-preview")), chromedp.WaitVisible(tid("confirm")))
			if got := j.text(chromedp.CSS("#confirm-title")); got != "Revoke every grant with scope write at every client?" {
				t.Errorf("confirmation title: got %q", got)
			}
			lines := j.eval(`[...document.querySelectorAll('[data-testid="confirm-line"]')].map(e => e.textContent).join(' | ')`)
			if !strings.Contains(lines, "2 grants and 4 live tokens") || !strings.Contains(lines, "2 users") {
				t.Errorf("preview: got %q, want 2 grants, 4 tokens, 2 users", lines)
			}
			fits("the mass revocation's confirmation")
			j.shoot("mass-revoke-confirm-journey-" + vp.name)
			j.do(chromedp.SendKeys(tid("confirm-reason"), "write scope leaked"), chromedp.Click(tid("confirm-submit")),
				chromedp.WaitVisible(tid("flash")))
			if got := j.text(tid("flash")); got != "Revoked 2 grants and 4 tokens." {
				t.Errorf("flash: got %q", got)
			}
			fits("the mass revocation page")
			for _, w := range writers {
				if code, _, _ := ts.me(t, w.AccessToken); code != 401 {
					t.Errorf("a token with scope write after the mass revocation: /api/me %d, want 401", code)
				}
			}
			if code, _, _ := ts.me(t, reader.AccessToken); code != 200 {
				t.Errorf("a read-only token after revoking scope write: /api/me %d, want 200", code)
			}

			// A refresh token presented twice shows on the overview.
			reused := scoped("bob", "read")
			refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {reused.RefreshToken},
				"client_id": {ts.f.Confidential.ClientID}, "client_secret": {ts.f.Secret}}
			if resp, _ := postForm(t, ts, "/o/token/", refresh, nil); resp.StatusCode != 200 {
				t.Fatalf("refresh: %d", resp.StatusCode)
			}
			if resp, _ := postForm(t, ts, "/o/token/", refresh, nil); resp.StatusCode != 400 {
				t.Fatalf("reuse: %d", resp.StatusCode)
			}
			j.open("/admin/")
			j.do(chromedp.WaitVisible(tid("signals")))
			if got := j.text(tid("signal-count-refresh_token.reuse")); got != "1" {
				t.Errorf("refresh-token reuse signal: got %q, want 1", got)
			}
			fits("the overview with a signal")
			j.shoot("signals-overview-" + vp.name)
			j.do(chromedp.Click(tid("signal-link-refresh_token.reuse")), chromedp.WaitVisible(tid("audit-since")))
			rows := j.eval(`[...document.querySelectorAll('[data-testid="audit-row"]')].map(r => r.dataset.action).join(',')`)
			if rows != "refresh_token.reuse" {
				t.Errorf("the signal's audit events: got %q, want one refresh_token.reuse", rows)
			}
			fits("the signal's audit events")
			j.shoot("signals-audit-" + vp.name)
		})
	}
}
