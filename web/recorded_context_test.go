package web_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
	"golang.org/x/oauth2"
)

// agentFrom is an HTTP client that dials from address from (a loopback
// alias such as 127.0.0.2) and sends User-Agent ua.
func agentFrom(from, ua string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: uaTransport{ua, &http.Transport{DialContext: d.DialContext}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type uaTransport struct {
	ua   string
	next http.RoundTripper
}

func (u uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", u.ua)
	return u.next.RoundTrip(r)
}

// TestRecordedContext: a grant records the address and User-Agent that
// issued it, and those of its last use by the holder (/api/me, a refresh)
// inside the once-a-minute last-use write; introspection, whose caller is
// the resource server, moves the last use but not where the grant was
// seen. The user's sessions, the token rows and the found-token card show
// both, with relative times.
func TestRecordedContext(t *testing.T) {
	t.Parallel()
	clk := modelstest.NewClock(time.Now().UTC())
	ts := newClockServer(t, clk, web.Config{})
	const (
		issueUA = "Issuer-App/1.0 (recorded-context issue)"
		useUA   = "Incident-Probe/9.9 (recorded-context use)"
		rsUA    = "Resource-Server/2.0"
		refUA   = "Refresher/3.1 (recorded-context refresh)"
	)
	cfg := oauth2.Config{ClientID: ts.f.Confidential.ClientID, ClientSecret: ts.f.Secret, Endpoint: ts.endpoint()}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, agentFrom("127.0.0.3", issueUA))
	tok, err := cfg.PasswordCredentialsToken(ctx, "alice", modelstest.Password)
	if err != nil {
		t.Fatal(err)
	}
	me := func(from, ua string) {
		t.Helper()
		req, _ := http.NewRequest("GET", ts.URL+"/api/me", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		resp, err := agentFrom(from, ua).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/api/me: status %d", resp.StatusCode)
		}
	}
	me("127.0.0.2", useUA)
	ts.st.FlushLastUse()

	admin := newBrowser(t, ts)
	admin.login("admin")
	alice := "/admin/users/" + strconv.FormatInt(ts.f.Alice.ID, 10)
	expect := func(page string, d *goquery.Document, prefix, addr, ua string) {
		t.Helper()
		if got := strings.TrimSpace(d.Find(`[data-testid="` + prefix + `-addr"]`).First().Text()); got != addr {
			t.Errorf("%s: %s address: got %q, want %q", page, prefix, got, addr)
		}
		if got := strings.TrimSpace(d.Find(`[data-testid="` + prefix + `-ua"]`).First().Text()); got != ua {
			t.Errorf("%s: %s User-Agent: got %q, want %q", page, prefix, got, ua)
		}
	}
	found := func() *goquery.Document {
		t.Helper()
		resp, _ := searchPost(t, admin, "/admin/", "Bearer "+tok.AccessToken)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("search: status %d", resp.StatusCode)
		}
		_, html := admin.get(resp.Header.Get("Location"))
		d := doc(t, html)
		if d.Find(`[data-testid="found-token"]`).Length() != 1 {
			t.Fatalf("no found-token card:\n%s", html)
		}
		return d
	}
	_, html := admin.get(alice)
	d := doc(t, html)
	expect("user page", d, "grant-issued-from", "127.0.0.3", issueUA)
	expect("user page", d, "grant-seen", "127.0.0.2", useUA)
	if d.Find(`[data-testid="grant-last-used"] [data-testid="ago"]`).Length() == 0 {
		t.Errorf("user page: last use has no relative time")
	}
	f := found()
	expect("found token", f, "found-issued-from", "127.0.0.3", issueUA)
	expect("found token", f, "found-seen", "127.0.0.2", useUA)
	if got := f.Find(`[data-testid="found-last-used"] [data-testid="ago"]`).First().Text(); got != "just now" {
		t.Errorf("found token: last use: got %q, want just now", got)
	}
	_, html = admin.get("/admin/tokens?user=alice")
	expect("token rows", doc(t, html), "token-seen", "127.0.0.2", useUA)

	// Introspection two minutes later, by the resource server from
	// another address: the use moves, the sighting does not.
	clk.Set(clk.Now().Add(2 * time.Minute))
	form := url.Values{"token": {tok.AccessToken}}
	req, _ := http.NewRequest("POST", ts.URL+"/o/introspect/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(ts.f.Confidential.ClientID, ts.f.Secret)
	resp, err := agentFrom("127.0.0.4", rsUA).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ts.st.FlushLastUse()
	f = found()
	expect("found token after introspection", f, "found-seen", "127.0.0.2", useUA)
	times := f.Find(`[data-testid="found-last-used"] time`)
	if got, want := times.First().AttrOr("datetime", ""), clk.Now().Format(time.RFC3339); got != want {
		t.Errorf("found token after introspection: last use: got %q, want %q (introspection is a use)", got, want)
	}
	if times.Length() != 2 {
		t.Errorf("found token after introspection: got %d times, want the use and, apart, the sighting", times.Length())
	}

	// A refresh is the holder itself: seen from its address, at once.
	clk.Set(clk.Now().Add(2 * time.Minute))
	ctx = context.WithValue(context.Background(), oauth2.HTTPClient, agentFrom("127.0.0.5", refUA))
	tok.Expiry = time.Now().Add(-time.Hour) // make x/oauth2 refresh
	if _, err := cfg.TokenSource(ctx, tok).Token(); err != nil {
		t.Fatal(err)
	}
	_, html = admin.get(alice)
	d = doc(t, html)
	expect("user page after refresh", d, "grant-seen", "127.0.0.5", refUA)
	expect("user page after refresh", d, "grant-issued-from", "127.0.0.3", issueUA)
}
