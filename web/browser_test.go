package web_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/latchkey/latchkey/demo"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
)

// chromiumPath is Debian's Chromium, which .ci/run installs.
const chromiumPath = "/usr/bin/chromium"

// requireChromium returns the browser to drive, skipping the test with a
// clear message when there is none — or failing it when
// LATCHKEY_REQUIRE_BROWSER=1, as in CI.
func requireChromium(t *testing.T) string {
	t.Helper()
	path := chromiumPath
	if p := os.Getenv("LATCHKEY_CHROMIUM"); p != "" {
		path = p
	}
	if _, err := exec.LookPath(path); err != nil {
		if os.Getenv("LATCHKEY_REQUIRE_BROWSER") == "1" {
			t.Fatalf("LATCHKEY_REQUIRE_BROWSER=1 but there is no Chromium at %s (apt-get install chromium)", path)
		}
		t.Skipf("browser tests skipped: no Chromium at %s (apt-get install chromium, or set LATCHKEY_CHROMIUM)", path)
	}
	return path
}

// screenshotDir is where the browser tests save their screenshots:
// $LATCHKEY_SCREENSHOTS, else a temporary directory.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("LATCHKEY_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// tid selects an element by its data-testid, the only way these tests
// select anything.
func tid(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }

// journey is one browser tab on one test server.
type journey struct {
	t    *testing.T
	ctx  context.Context
	ts   *testServer
	shot string
}

// TestBrowserJourneys drives headless Chromium through the dashboard and
// the self-service page, one shared browser, one isolated browser context
// (cookies) per journey. Each journey checks what the page shows, then
// checks from outside that the tokens are dead.
func TestBrowserJourneys(t *testing.T) {
	path := requireChromium(t)
	shots := screenshotDir(t)
	actx, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancel) // after the parallel journeys, unlike defer
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		if os.Getenv("LATCHKEY_REQUIRE_BROWSER") == "1" {
			t.Fatalf("start Chromium: %v", err)
		}
		t.Skipf("browser tests skipped: Chromium does not start: %v", err)
	}
	start := func(t *testing.T) *journey {
		ctx, cancel := chromedp.NewContext(bctx, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		ctx, tcancel := context.WithTimeout(ctx, 45*time.Second)
		t.Cleanup(tcancel)
		return &journey{t: t, ctx: ctx, ts: newTestServer(t), shot: shots}
	}

	t.Run("screenshots of a demo database", func(t *testing.T) {
		t.Parallel()
		j := start(t)
		// A fresh store with the demo history, so the pages have
		// something to show (the README's screenshots come from here).
		dsn := filepath.Join(t.TempDir(), "demo.db")
		st := modelstest.Open(t, dsn)
		seeded, err := demo.Seed(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		j.ts = startServer(t, st, nil, web.Config{}, nil)
		j.loginWith(seeded.Users[0], demo.Password)
		if got := j.text(tid("stat-users")); got != strconv.Itoa(len(seeded.Users)) {
			t.Errorf("users on the overview: got %s, want %d", got, len(seeded.Users))
		}
		j.screenshot("demo-overview", 1280)
		j.open("/admin/tokens")
		j.screenshot("demo-tokens", 1280)
		j.screenshot("demo-tokens-375", 375)
		j.open("/admin/audit")
		j.screenshot("demo-audit", 1280)
	})

	t.Run("admin pastes a token and revokes its grant", func(t *testing.T) {
		t.Parallel()
		j := start(t)
		tok := j.ts.passwordToken(t, "alice")
		other := j.ts.passwordToken(t, "bob")
		j.login("admin")
		j.screenshot("overview", 1280)
		j.open("/admin/tokens")
		j.do(chromedp.SendKeys(tid("find-token-input"), tok.AccessToken), chromedp.Click(tid("find-token-submit")),
			chromedp.WaitVisible(tid("found-token")))
		if got := j.text(tid("found-status")); got != "active" {
			t.Errorf("found token status: got %q, want active", got)
		}
		if html := j.eval(`document.documentElement.outerHTML`); strings.Contains(html, tok.AccessToken) {
			t.Errorf("the pasted token is in the page")
		}
		j.screenshot("tokens-found", 1280)
		j.do(chromedp.Click(tid("found-revoke")), chromedp.WaitVisible(tid("confirm")))
		if got := j.text(tid("confirm-line")); !strings.Contains(got, "1 grant and 2 live tokens") {
			t.Errorf("confirmation: got %q", got)
		}
		j.do(chromedp.SendKeys(tid("confirm-reason"), "pasted in a public channel"), chromedp.Click(tid("confirm-submit")))
		j.waitText("found-status", "revoked")
		j.waitText("flash", "Revoked 1 grant and 2 tokens.")
		if loc := j.eval(`location.pathname`); loc != "/admin/tokens" {
			t.Errorf("htmx must update in place; location is %q", loc)
		}
		j.screenshot("tokens-revoked", 1280)
		j.ts.assertRevoked(t, tok)
		j.ts.assertActive(t, other)
		if ev := j.ts.lastAudit(t); ev.Reason != "pasted in a public channel" || ev.Actor != "admin" {
			t.Errorf("audit event: %+v", ev)
		}
	})

	t.Run("admin revokes all of a user's grants", func(t *testing.T) {
		t.Parallel()
		j := start(t)
		t1, t2 := j.ts.passwordToken(t, "alice"), j.ts.passwordToken(t, "alice")
		bobs := j.ts.passwordToken(t, "bob")
		j.login("admin")
		j.open("/admin/users")
		j.screenshot("users", 1280)
		j.do(chromedp.Click(tid("user-link-alice")), chromedp.WaitVisible(tid("user-grants")))
		j.screenshot("user", 1280)
		j.do(chromedp.Click(tid("user-revoke-all")), chromedp.WaitVisible(tid("confirm")))
		if got := j.text(tid("confirm-line")); !strings.Contains(got, "2 grants and 4 live tokens") {
			t.Errorf("confirmation: got %q", got)
		}
		j.do(chromedp.Click(tid("confirm-submit")), chromedp.WaitVisible(tid("grants-empty")))
		j.waitText("flash", "Revoked 2 grants and 4 tokens.")
		j.ts.assertRevoked(t, t1)
		j.ts.assertRevoked(t, t2)
		j.ts.assertActive(t, bobs)
		j.logout("/admin/")
	})

	t.Run("admin revokes all of a client's tokens", func(t *testing.T) {
		t.Parallel()
		j := start(t)
		a, b := j.ts.passwordToken(t, "alice"), j.ts.passwordToken(t, "bob")
		j.login("admin")
		j.open("/admin/clients")
		j.screenshot("clients", 1280)
		j.open("/admin/clients/" + strconv.FormatInt(j.ts.f.Confidential.ID, 10))
		j.screenshot("client", 1280)
		j.do(chromedp.Click(tid("client-revoke-all")), chromedp.WaitVisible(tid("confirm")))
		j.do(chromedp.SendKeys(tid("confirm-reason"), "client compromised"), chromedp.Click(tid("confirm-submit")),
			chromedp.WaitVisible(tid("grants-empty")))
		j.waitText("flash", "Revoked 2 grants and 4 tokens.")
		j.ts.assertRevoked(t, a)
		j.ts.assertRevoked(t, b)
		if ev := j.ts.lastAudit(t); ev.Action != models.ActionRevokeClient || ev.Reason != "client compromised" {
			t.Errorf("audit event: %+v", ev)
		}
	})

	t.Run("auditor sees the audit entry and cannot revoke", func(t *testing.T) {
		t.Parallel()
		j := start(t)
		tok := j.ts.passwordToken(t, "alice")
		victim := j.ts.passwordToken(t, "bob")
		if _, err := j.ts.st.CreateUser(context.Background(), "audrey", models.RoleAuditor, modelstest.Password); err != nil {
			t.Fatal(err)
		}
		j.login("audrey") // a staff login is audited too: log in first, so the revocation is the newest event
		if _, err := j.ts.st.Revoke(context.Background(), models.RevokeRequest{UserID: j.ts.f.Alice.ID,
			Actor: models.Staff(j.ts.f.Admin), Reason: "offboarding"}); err != nil {
			t.Fatal(err)
		}
		j.open("/admin/audit")
		j.screenshot("audit", 1280)
		j.screenshot("audit-375", 375)
		if got := j.text(tid("audit-reason")); got != "offboarding" {
			t.Errorf("audit reason: got %q, want offboarding", got)
		}
		if got := j.text(tid("audit-action")); got != string(models.ActionRevokeUserGrants) {
			t.Errorf("audit action: got %q", got)
		}
		for _, p := range []string{"/admin/tokens", "/admin/users/" + strconv.FormatInt(j.ts.f.Bob.ID, 10),
			"/admin/clients/" + strconv.FormatInt(j.ts.f.Confidential.ID, 10)} {
			j.open(p)
			if n := j.eval(`String(document.querySelectorAll('[data-testid$="revoke"],[data-testid$="revoke-all"],[data-testid="client-disable"],[data-testid="client-rotate"]').length)`); n != "0" {
				t.Errorf("%s: auditor sees %s action buttons", p, n)
			}
		}
		info, err := j.ts.st.ActiveToken(context.Background(), victim.AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		// A forged request from the page itself: same origin, so CSRF
		// passes; the role guard must refuse it.
		status := j.eval(`fetch('/admin/grants/`+strconv.FormatInt(info.Token.GrantID, 10)+`/revoke', {method: 'POST',
			headers: {'Content-Type': 'application/x-www-form-urlencoded', 'X-CSRF-Token': document.querySelector('meta[name="csrf-token"]').content},
			body: 'reason=forged'}).then(r => String(r.status))`, chromedp.EvalAwaitPromise)
		if status != "403" {
			t.Errorf("auditor's forged POST: got %s, want 403", status)
		}
		j.ts.assertActive(t, victim)
		j.ts.assertRevoked(t, tok)
	})

	t.Run("user revokes an app on authorized_tokens", func(t *testing.T) {
		t.Parallel()
		j := start(t)
		tok := j.ts.passwordToken(t, "alice")
		bobs := j.ts.passwordToken(t, "bob")
		j.login("alice")
		j.do(chromedp.WaitVisible(tid("app-row")))
		if got := j.text(tid("app-name")); got != "Confidential App" {
			t.Errorf("app: got %q", got)
		}
		j.screenshot("authorized-tokens", 1280)
		j.screenshot("authorized-tokens-375", 375)
		j.do(chromedp.Click(tid("app-revoke")), chromedp.WaitVisible(tid("confirm")), chromedp.Click(tid("confirm-submit")),
			chromedp.WaitVisible(tid("apps-empty")))
		j.ts.assertRevoked(t, tok)
		j.ts.assertActive(t, bobs)
		if ev := j.ts.lastAudit(t); ev.ActorType != models.ActorUser || ev.Actor != "alice" {
			t.Errorf("audit event: %+v", ev)
		}
		j.logout("/o/authorized_tokens/")
	})

	t.Run("admin pauses, enables and deletes an event stream", func(t *testing.T) {
		t.Parallel()
		j := start(t)
		es := newEventServer(t)
		j.ts = es.testServer
		s := es.pollStream(t)
		status := func() string {
			_, raw, _ := es.call(t, "GET", "/ssf/status?stream_id="+s.StreamID, es.bearer, nil)
			return decode[map[string]any](t, raw)["status"].(string)
		}
		j.login("admin")
		j.do(chromedp.Click(`nav a[href="/admin/streams"]`), chromedp.WaitVisible(tid("stream-row")))
		if got := j.text(tid("stream-receiver")); got != "Resource Server" {
			t.Errorf("receiver: got %q", got)
		}
		j.screenshot("streams", 1280)
		for _, c := range []struct{ button, want string }{{"stream-pause", "paused"}, {"stream-enable", "enabled"}} {
			j.do(chromedp.Click(tid(c.button)), chromedp.WaitVisible(tid("confirm")),
				chromedp.SendKeys(tid("confirm-reason"), "journey"), chromedp.Click(tid("confirm-submit")))
			j.waitText("stream-status", c.want)
			if got := status(); got != c.want {
				t.Errorf("after %s the receiver reads %q, want %q", c.button, got, c.want)
			}
			if ev := j.ts.lastAudit(t); ev.Action != models.ActionStreamStatus || ev.Actor != "admin" {
				t.Errorf("audit event after %s: %+v", c.button, ev)
			}
		}
		j.do(chromedp.Click(tid("stream-delete")), chromedp.WaitVisible(tid("confirm")), chromedp.Click(tid("confirm-submit")),
			chromedp.WaitVisible(tid("streams-empty")))
		if st, _, _ := es.call(t, "GET", "/ssf/stream?stream_id="+s.StreamID, es.bearer, nil); st != 404 {
			t.Errorf("the receiver still reads its deleted stream: %d", st)
		}
		if ev := j.ts.lastAudit(t); ev.Action != models.ActionStreamDelete || ev.Actor != "admin" {
			t.Errorf("audit event after delete: %+v", ev)
		}
	})
}

func (j *journey) do(steps ...chromedp.Action[chromedp.Void]) {
	j.t.Helper()
	if err := chromedp.Do(j.ctx, steps...); err != nil {
		j.t.Fatalf("browser: %v", err)
	}
}

func (j *journey) open(path string) {
	j.t.Helper()
	j.do(chromedp.Navigate(j.ts.URL+path), chromedp.WaitReady(chromedp.CSS("body")))
}

func (j *journey) login(username string) {
	j.t.Helper()
	j.loginWith(username, modelstest.Password)
}

func (j *journey) loginWith(username, password string) {
	j.t.Helper()
	j.open("/login")
	j.do(chromedp.SendKeys(tid("username"), username), chromedp.SendKeys(tid("password"), password),
		chromedp.Click(tid("login-submit")), chromedp.WaitVisible(tid("logout")))
}

// logout presses "Log out" in the header: the browser must land on the
// login page, and page (where it was) must then ask it to log in again.
func (j *journey) logout(page string) {
	j.t.Helper()
	j.do(chromedp.Click(tid("logout")), chromedp.WaitVisible(tid("login-submit")))
	if loc := j.eval(`location.pathname`); loc != "/login" {
		j.t.Errorf("after Log out: location is %q, want /login", loc)
	}
	j.open(page)
	if loc := j.eval(`location.pathname`); loc != "/login" {
		j.t.Errorf("%s after Log out: location is %q, want the login page", page, loc)
	}
	if n := j.eval(`String(document.querySelectorAll('[data-testid="logout"]').length)`); n != "0" {
		j.t.Errorf("%s after Log out still shows a Log out button", page)
	}
}

func (j *journey) text(sel chromedp.CSS) string {
	j.t.Helper()
	s, err := chromedp.Run(j.ctx, chromedp.Text(sel))
	if err != nil {
		j.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (j *journey) eval(expr string, opts ...chromedp.EvaluateOption) string {
	j.t.Helper()
	s, err := chromedp.Run(j.ctx, chromedp.Evaluate[string](expr, opts...))
	if err != nil {
		j.t.Fatalf("evaluate: %v", err)
	}
	return s
}

// waitText waits until the element's text is want (htmx swaps it in).
func (j *journey) waitText(id, want string) {
	j.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		got = j.eval(`(document.querySelector('[data-testid="` + id + `"]') || {}).textContent || ''`)
		if strings.TrimSpace(got) == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	j.t.Fatalf("%s: got %q, want %q", id, strings.TrimSpace(got), want)
}

// screenshot saves the whole page at a viewport width, as PNG.
func (j *journey) screenshot(name string, width int64) {
	j.t.Helper()
	png, err := chromedp.Run(j.ctx, func(ctx context.Context, t *chromedp.Target) ([]byte, error) {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900)); err != nil {
			return nil, err
		}
		return chromedp.FullScreenshot(100)(ctx, t)
	})
	if err != nil {
		j.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := chromedp.Do(j.ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		j.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(j.shot, name+".png"), png, 0o644); err != nil && !errors.Is(err, os.ErrNotExist) {
		j.t.Fatal(err)
	}
}
