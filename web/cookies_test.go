package web_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
)

// cookieLog is a transport that records every Set-Cookie a server sends.
type cookieLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []setCookie
}

type setCookie struct {
	where  string
	cookie *http.Cookie
}

func (l *cookieLog) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err == nil {
		l.mu.Lock()
		for _, c := range resp.Cookies() {
			l.seen = append(l.seen, setCookie{r.Method + " " + r.URL.Path + " → " + strconv.Itoa(resp.StatusCode), c})
		}
		l.mu.Unlock()
	}
	return resp, err
}

// TestCookiesSecureUnderHTTPS serves Latchkey over TLS with an https issuer
// and checks every cookie it sets — the pre-session CSRF cookie, the
// session, the flash and its clearing, the logout — is Secure and HttpOnly.
func TestCookiesSecureUnderHTTPS(t *testing.T) {
	t.Parallel()
	st := modelstest.NewStore(t)
	f := modelstest.NewFixture(t, st)
	srv := httptest.NewUnstartedServer(nil)
	cfg := web.Config{Issuer: "https://" + srv.Listener.Addr().String(), TTLs: models.DefaultTTLs}
	srv.Config.Handler = web.New(cfg, st, nil)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ts := &testServer{Server: srv, st: st, f: f}

	log := &cookieLog{next: srv.Client().Transport}
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t, ts: ts, c: &http.Client{Jar: jar, Transport: log,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}

	b.login("admin")
	// A flash-producing action: revoke Alice's grants, then see the flash.
	path := "/admin/users/" + strconv.FormatInt(f.Alice.ID, 10) + "/revoke"
	resp, body := b.post(path, url.Values{"csrf": {b.pageToken("/admin/users")}, "reason": {"test"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d: %s", resp.StatusCode, body)
	}
	b.get(resp.Header.Get("Location"))
	b.post("/logout", url.Values{"csrf": {b.pageToken("/admin/")}})

	names := map[string]int{}
	for _, s := range log.seen {
		names[s.cookie.Name]++
		if !s.cookie.Secure {
			t.Errorf("%s: Set-Cookie %s without Secure", s.where, s.cookie.Name)
		}
		if !s.cookie.HttpOnly {
			t.Errorf("%s: Set-Cookie %s without HttpOnly", s.where, s.cookie.Name)
		}
		t.Logf("%s: %s (Secure=%v, max-age %d)", s.where, s.cookie.Name, s.cookie.Secure, s.cookie.MaxAge)
	}
	for _, want := range []string{"__Host-latchkey_csrf", "__Host-latchkey_session", "__Host-latchkey_flash"} {
		if names[want] == 0 {
			t.Errorf("no Set-Cookie %s seen; the test did not exercise it (saw %v)", want, names)
		}
	}
	if names["__Host-latchkey_flash"] < 2 {
		t.Errorf("want the flash set and then cleared, saw %d Set-Cookie", names["__Host-latchkey_flash"])
	}
	if names["latchkey_flash"] != 0 {
		t.Errorf("a flash cookie without the __Host- prefix under https: %d Set-Cookie", names["latchkey_flash"])
	}
	if names["__Host-latchkey_session"] < 2 {
		t.Errorf("want the session set at login and cleared at logout, saw %d Set-Cookie", names["__Host-latchkey_session"])
	}

	// A sibling domain can plant a cookie named latchkey_session, even one
	// holding a real session of the attacker's: under https it is not the
	// session cookie, so it logs nobody in.
	raw, err := st.CreateSession(t.Context(), f.Admin)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/admin/", nil)
	req.Header.Set("Cookie", "latchkey_session="+raw)
	planted, err := (&http.Client{Transport: srv.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	planted.Body.Close()
	if planted.StatusCode != http.StatusSeeOther || planted.Header.Get("Location") == "" {
		t.Errorf("planted latchkey_session cookie under https: got %d, want a 303 to the login page", planted.StatusCode)
	}

	// Nor can it plant the flash: a text of its own in the status area of
	// a logged-in admin's page.
	b.login("admin")
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/admin/", nil)
	for _, ck := range jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	req.AddCookie(&http.Cookie{Name: "latchkey_flash", Value: url.QueryEscape("Session expired: call +1 555 0100 now")})
	resp, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page := readAll(resp)
	if resp.StatusCode != 200 {
		t.Fatalf("/admin/ with a planted flash: %d", resp.StatusCode)
	}
	if strings.Contains(page, "555 0100") {
		t.Errorf("a planted latchkey_flash cookie's text is shown on the dashboard under https")
	}
}
