package web_test

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
	"golang.org/x/oauth2"
)

// newClockServer is a test server whose store (and so whose login
// throttle) reads clock, on SQLite or, with LATCHKEY_TEST_BACKEND=postgres,
// on PostgreSQL.
func newClockServer(t *testing.T, clock *modelstest.Clock, cfg web.Config) *testServer {
	t.Helper()
	cfg.ThrottleHold = -1 // the clock is fake: answer 429s at once
	opts := models.Options{Now: clock.Now}
	var st *models.Store
	if modelstest.OnPostgres() {
		_, dsn := modelstest.NewPostgresStore(t)
		st = modelstest.OpenWith(t, dsn, opts)
	} else {
		st = modelstest.OpenWith(t, t.TempDir()+"/latchkey.db", opts)
	}
	return startServer(t, st, modelstest.NewFixture(t, st), cfg, nil)
}

// browserFrom is a cookie-jar browser whose connections leave from the
// local address from (127.0.0.2 reaches a server on 127.0.0.1), so the
// server sees another source address.
func browserFrom(t *testing.T, ts *testServer, from string) *browser {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, ts: ts, c: &http.Client{Jar: jar, Transport: &http.Transport{DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// tryLogin posts the login form (with the CSRF value the page gave) and
// returns the answer.
func (b *browser) tryLogin(username, password string, hdr http.Header) (*http.Response, string) {
	b.t.Helper()
	_, html := b.get("/login")
	form := formFields(b.t, html, "/login")
	form.Set("username", username)
	form.Set("password", password)
	req, _ := http.NewRequest("POST", b.ts.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = fmt.Fprint(&sb, readAll(resp))
	return resp, sb.String()
}

func readAll(resp *http.Response) string {
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

func wantStatus(t *testing.T, what string, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s: got status %d, want %d", what, resp.StatusCode, want)
	}
}

// TestLoginThrottle: five wrong passwords in a row, then 429 with
// Retry-After and no bcrypt computed, even for the right password, until
// the back-off has passed; then the right password works and resets the
// count. Another source address is never locked out, and X-Forwarded-For
// from a peer that is not a trusted proxy does not give fresh counters.
func TestLoginThrottle(t *testing.T) {
	clock := modelstest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	ts := newClockServer(t, clock, web.Config{})
	b := newBrowser(t, ts)
	for i := range 5 {
		resp, _ := b.tryLogin("alice", "wrong password", nil)
		wantStatus(t, fmt.Sprintf("wrong password %d", i+1), resp, http.StatusUnauthorized)
	}
	checks := ts.st.Stats().PasswordChecks
	resp, body := b.tryLogin("alice", "wrong password", nil)
	wantStatus(t, "6th wrong password", resp, http.StatusTooManyRequests)
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After: got %q, want 1", got)
	}
	if !strings.Contains(body, "Try again in a second") || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("429 page does not say when to retry: %s", body)
	}
	resp, _ = b.tryLogin("alice", modelstest.Password, nil)
	wantStatus(t, "right password during the back-off", resp, http.StatusTooManyRequests)
	resp, _ = b.tryLogin("ALICE", modelstest.Password, http.Header{"X-Forwarded-For": {"203.0.113.7"}})
	wantStatus(t, "X-Forwarded-For from an untrusted peer", resp, http.StatusTooManyRequests)
	if got := ts.st.Stats().PasswordChecks; got != checks {
		t.Errorf("throttled attempts computed %d password hashes, want 0", got-checks)
	}

	other := browserFrom(t, ts, "127.0.0.2")
	resp, _ = other.tryLogin("alice", modelstest.Password, nil)
	wantStatus(t, "alice from 127.0.0.2 while 127.0.0.1 is throttled", resp, http.StatusSeeOther)

	clock.Set(clock.Now().Add(time.Second))
	resp, _ = b.tryLogin("alice", modelstest.Password, nil)
	wantStatus(t, "right password after the back-off", resp, http.StatusSeeOther)
	b2 := newBrowser(t, ts) // logged out again, same address
	for i := range 5 {
		resp, _ := b2.tryLogin("alice", "wrong password", nil)
		wantStatus(t, fmt.Sprintf("wrong password %d after a success", i+1), resp, http.StatusUnauthorized)
	}
	resp, _ = b2.tryLogin("alice", "wrong password", nil)
	wantStatus(t, "6th wrong password after a success", resp, http.StatusTooManyRequests)
	// The back-off doubles: 2 s after the 6th failure in a row.
	clock.Set(clock.Now().Add(time.Second))
	resp, _ = b2.tryLogin("alice", "wrong password", nil)
	wantStatus(t, "7th attempt, 1 s later", resp, http.StatusUnauthorized)
	resp, _ = b2.tryLogin("alice", modelstest.Password, nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("after the 6th failure: got %d, Retry-After %q, want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

// TestLoginThrottleFollowsTrustedProxy: behind a trusted proxy each client
// address named in X-Forwarded-For has its own counters; the same header
// from any other peer is ignored.
func TestLoginThrottleFollowsTrustedProxy(t *testing.T) {
	_, proxy, _ := net.ParseCIDR("127.0.0.2/32")
	clock := modelstest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	ts := newClockServer(t, clock, web.Config{TrustedProxies: []*net.IPNet{proxy}})
	viaProxy := browserFrom(t, ts, "127.0.0.2")
	xff := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	for range 5 {
		resp, _ := viaProxy.tryLogin("bob", "wrong password", xff("198.51.100.1"))
		wantStatus(t, "wrong password via the proxy", resp, http.StatusUnauthorized)
	}
	resp, _ := viaProxy.tryLogin("bob", modelstest.Password, xff("198.51.100.1"))
	wantStatus(t, "the attacker's address behind the proxy", resp, http.StatusTooManyRequests)
	resp, _ = viaProxy.tryLogin("bob", modelstest.Password, xff("198.51.100.2"))
	wantStatus(t, "another client behind the proxy", resp, http.StatusSeeOther)

	direct := newBrowser(t, ts) // 127.0.0.1: not a trusted proxy
	for range 5 {
		resp, _ := direct.tryLogin("alice", "wrong password", xff("198.51.100.3"))
		wantStatus(t, "wrong password, direct", resp, http.StatusUnauthorized)
	}
	resp, _ = direct.tryLogin("alice", modelstest.Password, xff("198.51.100.4"))
	wantStatus(t, "a fresh X-Forwarded-For from an untrusted peer", resp, http.StatusTooManyRequests)
}

// TestLoginThrottlePerAddress: more than 100 failures from one address
// across usernames in 15 minutes answer 429 for any username.
func TestLoginThrottlePerAddress(t *testing.T) {
	clock := modelstest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	ts := newClockServer(t, clock, web.Config{})
	b := newBrowser(t, ts)
	_, html := b.get("/login")
	form := formFields(t, html, "/login")
	for i := range 100 {
		form.Set("username", fmt.Sprintf("nobody%d", i))
		form.Set("password", "guess")
		resp, _ := b.post("/login", form)
		wantStatus(t, fmt.Sprintf("failure %d", i+1), resp, http.StatusUnauthorized)
		clock.Set(clock.Now().Add(time.Second))
	}
	resp, _ := b.tryLogin("alice", modelstest.Password, nil)
	wantStatus(t, "101st attempt from the address", resp, http.StatusTooManyRequests)
	if ra := resp.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Errorf("Retry-After: got %q", ra)
	}
	resp, _ = browserFrom(t, ts, "127.0.0.2").tryLogin("alice", modelstest.Password, nil)
	wantStatus(t, "another address", resp, http.StatusSeeOther)
	clock.Set(clock.Now().Add(15 * time.Minute))
	resp, _ = b.tryLogin("alice", modelstest.Password, nil)
	wantStatus(t, "15 minutes later", resp, http.StatusSeeOther)
}

// TestAddressThrottleAuditedPerAddress: once an address is over its limit,
// a flood that names a new username with every guess still folds into one
// audit event a minute (not one row per guess), and its count is right.
func TestAddressThrottleAuditedPerAddress(t *testing.T) {
	clock := modelstest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	ts := newClockServer(t, clock, web.Config{})
	b := newBrowser(t, ts)
	_, html := b.get("/login")
	form := formFields(t, html, "/login")
	form.Set("password", "guess")
	for i := range 100 {
		form.Set("username", fmt.Sprintf("nobody%d", i))
		b.post("/login", form)
	}
	for i := range 300 {
		form.Set("username", fmt.Sprintf("Other%d", i))
		resp, _ := b.post("/login", form)
		wantStatus(t, fmt.Sprintf("throttled guess %d", i+1), resp, http.StatusTooManyRequests)
	}
	actions := []models.Action{models.ActionLoginThrottled}
	got := auditSums(t, ts.st, actions, func(m map[models.Action][2]int) bool { return m[models.ActionLoginThrottled][1] == 300 })
	if g := got[models.ActionLoginThrottled]; g[1] != 300 || g[0] > 2 {
		t.Errorf("throttled guesses with 300 usernames: got %d events counting %d, want at most 2 counting 300", g[0], g[1])
	}
}

// TestThrottleIPv6PerSlash64: a host rotating addresses within its /64
// keeps one counter.
func TestThrottleIPv6PerSlash64(t *testing.T) {
	clock := modelstest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	ts := newClockServer(t, clock, web.Config{TrustedProxies: []*net.IPNet{loopback}})
	b := newBrowser(t, ts)
	// A load balancer on loopback names the client: a fresh address in
	// 2001:db8:1:2::/64 for every guess.
	xff := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	for i := range 5 {
		resp, _ := b.tryLogin("alice", "wrong password", xff(fmt.Sprintf("2001:db8:1:2::%x", i+1)))
		wantStatus(t, fmt.Sprintf("guess %d from a fresh address in one /64", i+1), resp, http.StatusUnauthorized)
	}
	resp, _ := b.tryLogin("alice", modelstest.Password, xff("2001:db8:1:2::ffff"))
	wantStatus(t, "the right password from yet another address in that /64", resp, http.StatusTooManyRequests)
	resp, _ = b.tryLogin("alice", modelstest.Password, xff("2001:db8:1:3::1"))
	wantStatus(t, "another /64", resp, http.StatusSeeOther)
}

// TestPasswordGrantThrottle: the password grant shares the throttle; its
// 429 is an RFC 6749 §5.2 body with Retry-After.
func TestPasswordGrantThrottle(t *testing.T) {
	clock := modelstest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	ts := newClockServer(t, clock, web.Config{})
	ep := ts.endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader // no second try with the other style: one attempt per call
	cfg := oauth2.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, Endpoint: ep}
	for range 5 {
		_, err := cfg.PasswordCredentialsToken(ts.ctx(), "alice", "wrong password")
		assertRetrieveError(t, err, "invalid_grant")
	}
	checks := ts.st.Stats().PasswordChecks
	for _, pw := range []string{"wrong password", modelstest.Password} {
		_, err := cfg.PasswordCredentialsToken(ts.ctx(), "alice", pw)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.Response.StatusCode != http.StatusTooManyRequests || re.ErrorCode != "temporarily_unavailable" {
			t.Fatalf("6th attempt: got %v, want 429 temporarily_unavailable", err)
		}
		if re.Response.Header.Get("Retry-After") != "1" || re.Response.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("headers: %v", re.Response.Header)
		}
	}
	if got := ts.st.Stats().PasswordChecks; got != checks {
		t.Errorf("throttled grants computed %d password hashes, want 0", got-checks)
	}
	// The login page and the grant are one door: alice is throttled there too.
	resp, _ := newBrowser(t, ts).tryLogin("alice", modelstest.Password, nil)
	wantStatus(t, "login page while the grant is throttled", resp, http.StatusTooManyRequests)
	clock.Set(clock.Now().Add(time.Second))
	if _, err := cfg.PasswordCredentialsToken(ts.ctx(), "alice", modelstest.Password); err != nil {
		t.Fatalf("after the back-off: %v", err)
	}
}

// auditSums waits for the coalesced counts to be flushed (once a second)
// and returns, per action, the number of events and the sum of counts.
func auditSums(t *testing.T, st *models.Store, actions []models.Action, want func(map[models.Action][2]int) bool) map[models.Action][2]int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := map[models.Action][2]int{}
		for _, a := range actions {
			page, err := st.ListAudit(context.Background(), models.AuditFilter{Action: a}, models.Cursor{}, 200)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range page.Rows {
				s := got[a]
				got[a] = [2]int{s[0] + 1, s[1] + e.Count}
			}
		}
		if want(got) || time.Now().After(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLoginAuditCoalesced: 200 wrong logins leave a handful of events
// whose counts add up to 200; staff logins are events of their own.
func TestLoginAuditCoalesced(t *testing.T) {
	clock := modelstest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	ts := newClockServer(t, clock, web.Config{})
	b := newBrowser(t, ts)
	_, html := b.get("/login")
	form := formFields(t, html, "/login")
	form.Set("username", "alice")
	form.Set("password", "wrong password")
	for i := range 200 {
		if i == 100 {
			clock.Set(clock.Now().Add(61 * time.Second)) // a second minute
		}
		if resp, _ := b.post("/login", form); resp.StatusCode != 401 && resp.StatusCode != 429 {
			t.Fatalf("attempt %d: status %d", i+1, resp.StatusCode)
		}
	}
	actions := []models.Action{models.ActionLoginFailure, models.ActionLoginThrottled}
	got := auditSums(t, ts.st, actions, func(m map[models.Action][2]int) bool {
		return m[models.ActionLoginFailure][1]+m[models.ActionLoginThrottled][1] == 200
	})
	events := got[models.ActionLoginFailure][0] + got[models.ActionLoginThrottled][0]
	if n := got[models.ActionLoginFailure][1] + got[models.ActionLoginThrottled][1]; n != 200 || events > 4 {
		t.Fatalf("got %d events counting %d attempts (%v), want at most 4 counting 200", events, n, got)
	}
	// 5 failures, a back-off; a minute later one more failure, then back-off.
	if f := got[models.ActionLoginFailure]; f != [2]int{2, 6} {
		t.Errorf("failure events: got %v, want 2 events counting 6", f)
	}
	if s := ts.st.Stats(); s.LoginFailures != 6 || s.LoginThrottled != 194 {
		t.Errorf("counters: got %d failures and %d throttled, want 6 and 194", s.LoginFailures, s.LoginThrottled)
	}
	page, err := ts.st.ListAudit(context.Background(), models.AuditFilter{Action: models.ActionLoginFailure}, models.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if e := page.Rows[0]; e.Actor != "alice" || e.RemoteAddr != "127.0.0.1" || e.UserID == nil || *e.UserID != ts.f.Alice.ID {
		t.Errorf("failure event: actor %q, remote %q, user %v", e.Actor, e.RemoteAddr, e.UserID)
	}

	// Staff logins are audited one by one; other users' are not.
	clock.Set(clock.Now().Add(time.Hour))
	newBrowser(t, ts).login("bob")
	admin := newBrowser(t, ts)
	admin.login("admin")
	staff, err := ts.st.ListAudit(context.Background(), models.AuditFilter{Action: models.ActionStaffLogin}, models.Cursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(staff.Rows) != 1 || staff.Rows[0].Actor != "admin" || staff.Rows[0].RemoteAddr != "127.0.0.1" {
		t.Errorf("staff login events: got %+v, want one for admin", staff.Rows)
	}
	// The dashboard shows the count.
	_, html = admin.get("/admin/audit?action=" + url.QueryEscape(string(models.ActionLoginThrottled)))
	if !strings.Contains(html, `data-testid="audit-count"`) || !strings.Contains(html, "× 95") {
		t.Errorf("audit page does not show the count:\n%s", html)
	}
	// And so does the CSV export, in its count column.
	_, csvText := admin.get("/admin/audit.csv?action=" + url.QueryEscape(string(models.ActionLoginThrottled)))
	recs, err := csv.NewReader(strings.NewReader(csvText)).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("audit CSV: %v, %d rows", err, len(recs))
	}
	col := slices.Index(recs[0], "count")
	sum := 0
	for _, r := range recs[1:] {
		n, _ := strconv.Atoi(r[col])
		sum += n
	}
	if want := got[models.ActionLoginThrottled][1]; col < 0 || sum != want {
		t.Errorf("audit CSV counts throttled logins: column %d, sum %d, want %d", col, sum, want)
	}
	// /metrics reads the same counters.
	_, metrics := admin.get("/metrics")
	for _, line := range []string{"latchkey_login_failures_total 6", "latchkey_login_throttled_total 194"} {
		if !strings.Contains(metrics, "\n"+line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
}

// TestRefusedRevocationsCoalesced: a client replaying another client's
// token 300 times gets 400 unauthorized_client every time, and the audit
// trail holds one event (per minute) counting 300.
func TestRefusedRevocationsCoalesced(t *testing.T) {
	ts := newTestServer(t)
	victim := ts.clientCredentials(t)
	body := url.Values{"token": {victim.AccessToken}, "client_id": {ts.f.Public.ClientID}}
	for i := range 300 {
		resp, got := postForm(t, ts, "/o/revoke_token/", body, nil)
		if resp.StatusCode != 400 || got["error"] != "unauthorized_client" {
			t.Fatalf("attempt %d: got %d %v, want 400 unauthorized_client", i+1, resp.StatusCode, got)
		}
	}
	got := auditSums(t, ts.st, []models.Action{models.ActionRevokeRefused}, func(m map[models.Action][2]int) bool {
		return m[models.ActionRevokeRefused][1] == 300
	})
	if s := got[models.ActionRevokeRefused]; s[1] != 300 || s[0] > 3 {
		t.Errorf("got %d events counting %d, want at most 3 counting 300", s[0], s[1])
	}
	if code, _, _ := ts.me(t, victim.AccessToken); code != 200 {
		t.Errorf("the victim's token: /api/me %d, want 200 (a refused revocation leaves it valid)", code)
	}
}

// TestThrottledLoginIsHeld: by default a throttled guess is answered only
// after a hold (at most the wait it announces), so a flood on a few
// connections costs few requests a second.
func TestThrottledLoginIsHeld(t *testing.T) {
	ts := newTestServer(t)
	b := newBrowser(t, ts)
	for range 5 {
		resp, _ := b.tryLogin("alice", "wrong password", nil)
		wantStatus(t, "wrong password", resp, http.StatusUnauthorized)
	}
	_, html := b.get("/login")
	form := formFields(t, html, "/login")
	form.Set("username", "alice")
	form.Set("password", "wrong password")
	start := time.Now()
	resp, _ := b.post("/login", form)
	wantStatus(t, "6th wrong password", resp, http.StatusTooManyRequests)
	if d := time.Since(start); d < 500*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("answered after %v, want held about the 1 s back-off", d)
	}
}
