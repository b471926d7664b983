package handlers

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
)

// These fuzz targets call the form and client-authentication parsers
// directly, without a database or a network round trip, so that each
// iteration costs microseconds; web's fuzz targets drive the same code
// through the whole server.

// FuzzParseClientCredentials fuzzes the Authorization header (absent, once
// or twice) and the body of a token, revocation or introspection request
// through parseOAuthForm and parseClientCredentials (RFC 6749 §2.3.1, §3.2;
// RFC 7009 §2.1). Every refusal is an *OAuthError with the
// right code and status; every acceptance names a client in exactly one
// place.
func FuzzParseClientCredentials(f *testing.F) {
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
	}
	const (
		id     = "q2b6BkWq3nJ3yG8mRz0aLp7T"
		secret = "lk_cs_mjgENu7xw-enYuJYcxiwhoXyNk8AZO7DiUc24nF6F28"
	)
	seeds := []struct {
		authz   string
		headers uint8 // how many Authorization headers: 0, 1 or 2
		ctype   string
		body    string
	}{
		{"", 0, "application/x-www-form-urlencoded", "token=lk_at_x&client_id=" + id + "&client_secret=" + secret},
		{"", 0, "application/x-www-form-urlencoded", "token=lk_at_x&client_id=" + id},
		{"", 0, "application/x-www-form-urlencoded", "token=lk_at_x&client_id=" + id + "&client_secret="},
		{"", 0, "application/x-www-form-urlencoded", "token=lk_at_x"},
		{"", 0, "application/x-www-form-urlencoded", "client_secret=" + secret},
		{basic(id, secret), 1, "application/x-www-form-urlencoded", "token=lk_at_x"},
		{basic(id, secret), 2, "application/x-www-form-urlencoded", "token=lk_at_x"},
		{basic(id, ""), 1, "application/x-www-form-urlencoded", "token=lk_at_x"},
		{basic(id, secret), 1, "application/x-www-form-urlencoded", "client_id=" + id},
		{basic(id, secret), 1, "application/x-www-form-urlencoded", "client_id=other"},
		{basic(id, secret), 1, "application/x-www-form-urlencoded", "client_secret=" + secret},
		{basic("my%20app", "s%3Ac+r%2Bt"), 1, "application/x-www-form-urlencoded", ""},
		{basic("my app", "%zz"), 1, "application/x-www-form-urlencoded", ""},
		{basic("", secret), 1, "application/x-www-form-urlencoded", ""},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte(id)), 1, "application/x-www-form-urlencoded", ""},
		{"bAsIc    " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret)), 1, "application/x-www-form-urlencoded", ""},
		{"Basic\t" + base64.StdEncoding.EncodeToString([]byte(id+":"+secret)), 1, "application/x-www-form-urlencoded", ""},
		{"Basic " + base64.RawStdEncoding.EncodeToString([]byte(id+":"+secret)), 1, "application/x-www-form-urlencoded", ""},
		{"Basic " + base64.URLEncoding.EncodeToString([]byte("a?:>?")), 1, "application/x-www-form-urlencoded", ""},
		{"Bearer lk_at_x", 1, "application/x-www-form-urlencoded", "client_id=" + id},
		{"", 1, "application/x-www-form-urlencoded", "client_id=" + id},
		{"Basic", 1, "application/x-www-form-urlencoded", ""},
		{"", 0, "application/x-www-form-urlencoded; charset=UTF-8", "client_id=" + id},
		{"", 0, "application/x-www-form-urlencoded; charset=latin1", "client_id=" + id},
		{"", 0, "application/json", `{"client_id":"x"}`},
		{"", 0, "", "client_id=" + id},
		{"", 0, "application/x-www-form-urlencoded", "client_id=a&client_id=b"},
		{"", 0, "application/x-www-form-urlencoded", "client_id=%zz"},
		{"", 0, "application/x-www-form-urlencoded", "client_id=a;b=c"},
		{"", 0, "application/x-www-form-urlencoded", "=&&client_id"},
	}
	for _, s := range seeds {
		f.Add(s.authz, s.headers, s.ctype, s.body)
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, authz string, headers uint8, ctype, body string) {
		req := httptest.NewRequest("POST", "/o/token/", strings.NewReader(body))
		if ctype != "" {
			req.Header.Set(echo.HeaderContentType, ctype)
		}
		for range headers % 3 {
			req.Header.Add(echo.HeaderAuthorization, authz)
		}
		c := e.NewContext(req, httptest.NewRecorder())
		form, err := parseOAuthForm(c)
		if err != nil {
			wantOAuthError(t, "parseOAuthForm", err, ErrInvalidRequest, ErrRequestTooLarge)
			return
		}
		for k, v := range form {
			if len(v) != 1 {
				t.Fatalf("parseOAuthForm accepted %s given %d times", k, len(v))
			}
		}
		cred, err := parseClientCredentials(c, form)
		if err != nil {
			oe := wantOAuthError(t, "parseClientCredentials", err, ErrInvalidRequest, ErrInvalidClient)
			if errors.Is(oe, ErrInvalidClient) && oe.Basic != (headers%3 > 0) {
				t.Errorf("invalid_client with Basic %v, want %v: a 401 after an Authorization header answers with the Basic challenge", oe.Basic, headers%3 > 0)
			}
			return
		}
		_, bodySecret := form["client_secret"]
		switch headers % 3 {
		case 0:
			want := clientCredentials{ID: form.Get("client_id"), Secret: form.Get("client_secret"), SecretGiven: bodySecret}
			if cred != want || cred.ID == "" {
				t.Errorf("client_secret_post: got %+v, want %+v", cred, want)
			}
		case 1:
			scheme, _, _ := strings.Cut(strings.TrimSpace(authz), " ")
			if !strings.EqualFold(scheme, "Basic") {
				t.Errorf("accepted the %q scheme as HTTP Basic", scheme)
			}
			if !cred.Basic || cred.ID == "" || cred.SecretGiven != (cred.Secret != "") {
				t.Errorf("client_secret_basic: got %+v", cred)
			}
			if bodySecret {
				t.Errorf("accepted a secret in the header and in the body: %+v", cred)
			}
			if id := form.Get("client_id"); id != "" && id != cred.ID {
				t.Errorf("accepted body client_id %q with Basic id %q", id, cred.ID)
			}
		default:
			t.Errorf("accepted two Authorization headers: %+v", cred)
		}
	})
}

// FuzzBasicRoundTrip checks RFC 6749 §2.3.1 from the client's side: any
// client id and secret, form-urlencoded and sent with HTTP Basic under any
// spelling of the scheme name, come back exactly as they were.
func FuzzBasicRoundTrip(f *testing.F) {
	f.Add("q2b6BkWq3nJ3yG8mRz0aLp7T", "lk_cs_mjgENu7xw-enYuJYcxiwhoXyNk8AZO7DiUc24nF6F28", uint8(0))
	f.Add("my app", "s:c r+t%/", uint8(1))
	f.Add("client:with:colons", "", uint8(0x1f))
	f.Add("ünïcødé", "\x00\xff", uint8(0x0a))
	f.Add("", "secret", uint8(0))
	e := echo.New()
	f.Fuzz(func(t *testing.T, id, secret string, caseMask uint8) {
		scheme := []byte("Basic")
		for i := range scheme {
			if caseMask&(1<<i) != 0 {
				scheme[i] ^= 0x20 // swap the letter's case
			}
		}
		req := httptest.NewRequest("POST", "/o/revoke_token/", nil)
		req.Header.Set(echo.HeaderAuthorization, string(scheme)+" "+
			base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
		cred, err := parseClientCredentials(e.NewContext(req, httptest.NewRecorder()), url.Values{})
		if id == "" {
			wantOAuthError(t, "empty client id", err, ErrInvalidClient)
			return
		}
		if err != nil {
			t.Fatalf("id %q, secret %q as %s: %v", id, secret, scheme, err)
		}
		want := clientCredentials{ID: id, Secret: secret, SecretGiven: secret != "", Basic: true}
		if cred != want {
			t.Errorf("got %+v, want %+v", cred, want)
		}
	})
}

// wantOAuthError checks that err is an *OAuthError matching one of want,
// with a status that is a client error, and returns it.
func wantOAuthError(t *testing.T, what string, err error, want ...*OAuthError) *OAuthError {
	t.Helper()
	var oe *OAuthError
	if !errors.As(err, &oe) {
		t.Fatalf("%s: got %T %v, want an *OAuthError", what, err, err)
	}
	if oe.Status < 400 || oe.Status >= 500 || oe.Status == http.StatusForbidden {
		t.Fatalf("%s: got status %d (%v), want a client error", what, oe.Status, oe)
	}
	for _, w := range want {
		if errors.Is(oe, w) {
			return oe
		}
	}
	t.Fatalf("%s: got %v (status %d), want one of %v", what, oe, oe.Status, want)
	return nil
}
