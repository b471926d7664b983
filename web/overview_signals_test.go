package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
	"golang.org/x/oauth2"
)

// TestOverviewSignals: each leak signal — refresh-token reuse, code reuse,
// a refused revocation of another client's token, throttled logins — shows
// on the overview with how often it happened in the last 24 hours
// (folded repeats counted each), links to exactly its audit events, and
// leaves the panel once it is more than 24 hours old.
func TestOverviewSignals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		action  models.Action
		trigger func(t *testing.T, ts *testServer) int // returns how many signals it made
	}{
		{models.ActionRefreshReuse, func(t *testing.T, ts *testServer) int {
			tok := ts.passwordToken(t, "alice")
			refresh := func() (*http.Response, map[string]any) {
				return postForm(t, ts, "/o/token/", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
					"client_id": {ts.f.Confidential.ClientID}, "client_secret": {ts.f.Secret}}, nil)
			}
			if resp, _ := refresh(); resp.StatusCode != 200 {
				t.Fatalf("refresh: %d", resp.StatusCode)
			}
			if resp, body := refresh(); resp.StatusCode != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("reuse: %d %v", resp.StatusCode, body)
			}
			return 1
		}},
		{models.ActionCodeReuse, func(t *testing.T, ts *testServer) int {
			cfg := &oauth2.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint(),
				RedirectURL: "http://127.0.0.1:9999/callback", Scopes: []string{"read"}}
			code := authorize(t, ts, cfg).Get("code")
			if _, err := cfg.Exchange(ts.ctx(), code); err != nil {
				t.Fatal(err)
			}
			_, err := cfg.Exchange(ts.ctx(), code)
			assertRetrieveError(t, err, "invalid_grant")
			return 1
		}},
		{models.ActionRevokeRefused, func(t *testing.T, ts *testServer) int {
			victim := ts.clientCredentials(t)
			for range 3 {
				resp, body := postForm(t, ts, "/o/revoke_token/", url.Values{"token": {victim.AccessToken}, "client_id": {ts.f.Public.ClientID}}, nil)
				if resp.StatusCode != 400 || body["error"] != "unauthorized_client" {
					t.Fatalf("foreign revocation: %d %v", resp.StatusCode, body)
				}
			}
			return 3
		}},
		{models.ActionLoginThrottled, func(t *testing.T, ts *testServer) int {
			b := browserFrom(t, ts, "127.0.0.2")
			throttled := 0
			for range 8 {
				if resp, _ := b.tryLogin("bob", "wrong password", nil); resp.StatusCode == http.StatusTooManyRequests {
					throttled++
				}
			}
			if throttled == 0 {
				t.Fatal("no login was throttled")
			}
			return throttled
		}},
	} {
		t.Run(string(tc.action), func(t *testing.T) {
			t.Parallel()
			clock := modelstest.NewClock(time.Now().UTC())
			ts := newClockServer(t, clock, web.Config{})
			want := tc.trigger(t, ts)
			admin := newBrowser(t, ts)
			admin.login("admin")
			counts := func() (*goquery.Document, map[models.Action]int) {
				_, html := admin.get("/admin/")
				d := doc(t, html)
				got := map[models.Action]int{}
				for _, a := range models.SignalActions {
					n, err := strconv.Atoi(strings.TrimSpace(d.Find(`[data-testid="signal-count-` + string(a) + `"]`).Text()))
					if err != nil {
						t.Fatalf("signal %s: %v", a, err)
					}
					got[a] = n
				}
				return d, got
			}
			// Folded repeats reach their row within a second or so.
			var d *goquery.Document
			var got map[models.Action]int
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				d, got = counts()
				if got[tc.action] == want || time.Now().After(deadline) {
					break
				}
			}
			for _, a := range models.SignalActions {
				w := 0
				if a == tc.action {
					w = want
				}
				if got[a] != w {
					t.Errorf("signal %s: got %d, want %d", a, got[a], w)
				}
			}
			if !d.Find(`[data-testid="signal-` + string(tc.action) + `"]`).HasClass("signal-hot") {
				t.Errorf("signal %s is not marked", tc.action)
			}
			link := d.Find(`[data-testid="signal-link-`+string(tc.action)+`"]`).AttrOr("href", "")
			_, html := admin.get(link)
			rows := doc(t, html).Find(`[data-testid="audit-row"]`)
			total := 0
			rows.Each(func(_ int, r *goquery.Selection) {
				if a := r.AttrOr("data-action", ""); a != string(tc.action) {
					t.Errorf("the signal's link lists a %s event", a)
				}
				n := 1
				if c := strings.TrimSpace(strings.TrimPrefix(r.Find(`[data-testid="audit-count"]`).Text(), "×")); c != "" {
					n, _ = strconv.Atoi(strings.TrimSpace(c))
				}
				total += n
			})
			if total != want {
				t.Errorf("the signal's audit events count %d, want %d (%s)", total, want, link)
			}
			clock.Set(clock.Now().Add(24*time.Hour + time.Second))
			admin = newBrowser(t, ts) // the session has expired too
			admin.login("admin")
			if _, got := counts(); got[tc.action] != 0 {
				t.Errorf("a day later, signal %s: got %d, want 0", tc.action, got[tc.action])
			}
		})
	}
}
