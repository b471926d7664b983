package web_test

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// padTo returns body with a pad parameter that makes it exactly n bytes.
func padTo(t testing.TB, body string, n int) string {
	t.Helper()
	const key = "&pad="
	if len(body)+len(key) > n {
		t.Fatalf("body already %d bytes", len(body))
	}
	out := body + key + strings.Repeat("a", n-len(body)-len(key))
	if len(out) != n {
		t.Fatalf("padded to %d, want %d", len(out), n)
	}
	return out
}

// hideLength makes the client send a body chunked, without Content-Length,
// so the limit must be enforced while reading.
type hideLength struct{ io.Reader }

// TestBodyLimitIsExactly64KiB checks the limit is 65,536 bytes (not echo's
// "64K", which is 64,000) on a machine endpoint and a browser form, with
// and without Content-Length.
func TestBodyLimitIsExactly64KiB(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t)
	cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {ts.f.Confidential.ClientID}, "client_secret": {ts.f.Secret}}.Encode()
	b := newBrowser(t, ts)
	csrf := b.pageToken("/login")
	// A new username each time, so no attempt meets the login throttle.
	attempt := 0
	login := func() string {
		attempt++
		return url.Values{"csrf": {csrf}, "username": {"nobody" + strconv.Itoa(attempt)}, "password": {"wrong password"}}.Encode()
	}

	send := func(path, body string, chunked bool) int {
		t.Helper()
		var r io.Reader = strings.NewReader(body)
		if chunked {
			r = hideLength{r}
		}
		req, _ := http.NewRequest("POST", ts.URL+path, r)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := b.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, chunked := range []bool{false, true} {
		name := "Content-Length"
		if chunked {
			name = "chunked"
		}
		t.Run(name, func(t *testing.T) {
			for _, n := range []int{64000, 64001, 65536} {
				if got := send("/o/token/", padTo(t, cc, n), chunked); got != 200 {
					t.Errorf("/o/token/ with %d bytes: got %d, want 200", n, got)
				}
				if got := send("/login", padTo(t, login(), n), chunked); got != http.StatusUnauthorized {
					t.Errorf("/login with %d bytes: got %d, want 401 (wrong password)", n, got)
				}
			}
			if got := send("/o/token/", padTo(t, cc, 65537), chunked); got != http.StatusRequestEntityTooLarge {
				t.Errorf("/o/token/ with 65,537 bytes: got %d, want 413", got)
			}
			if got := send("/login", padTo(t, login(), 65537), chunked); got != http.StatusRequestEntityTooLarge {
				t.Errorf("/login with 65,537 bytes: got %d, want 413", got)
			}
		})
	}
}
