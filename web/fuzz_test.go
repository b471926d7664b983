package web_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/models/modelstest"
	"github.com/latchkey/latchkey/web"
)

// The fuzz targets here send what a hostile or broken client might to the
// three machine endpoints of a real server, and check the one promise every
// answer keeps: never a 5xx and never a panic (which the recover middleware
// turns into a 500); a 200 of the endpoint's own shape, or an RFC 6749 §5.2
// JSON error with a registered code; WWW-Authenticate on every 401; Allow on
// every 405. Each target starts one server, outside f.Fuzz, and each input
// is one request, so an iteration costs a loopback round trip.
//
// Inputs are templates, so that the fuzzer can reach past client
// authentication although the fixture's secrets are random: $ID, $SECRET,
// $PUB, $OTHER, $OTHER_SECRET, $AT and $RT become the confidential client's
// id and secret, the public client's id, another client's id and secret,
// and an access and a refresh token issued at start; b64(…) becomes the
// base64 of what is inside the parentheses, as HTTP Basic needs.

// fuzzPaths are the endpoints a fuzz input picks from, both spellings.
var fuzzPaths = []string{
	"/o/token/", "/o/revoke_token/", "/o/introspect/",
	"/o/token", "/o/revoke_token", "/o/introspect",
}

// rfcErrors are the error codes a machine endpoint may answer: RFC 6749
// §5.2, RFC 7009 §2.2.1 and RFC 6750 §3.1.
var rfcErrors = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true, "unauthorized_client": true,
	"unsupported_grant_type": true, "invalid_scope": true, "unsupported_token_type": true, "invalid_token": true,
}

// fuzzServer is a test server and what its templates expand to.
type fuzzServer struct {
	*testServer
	vars *strings.Replacer
	hc   *http.Client // with a timeout: a hung server fails the input
}

func newFuzzServer(f *testing.F) *fuzzServer {
	f.Helper()
	st := modelstest.NewStore(f)
	// Throttled password guesses answered at once: a fuzzer makes many, and
	// a held 429 would spend its budget waiting.
	ts := startServer(f, st, modelstest.NewFixture(f, st), web.Config{ThrottleHold: -1}, nil)
	iss := modelstest.IssuePassword(f, ts.st, ts.f.Confidential, ts.f.Alice)
	vars := strings.NewReplacer(
		// Longest names first: $OTHER_SECRET before $OTHER and $SECRET.
		"$OTHER_SECRET", ts.f.OtherSecret, "$OTHER", ts.f.Other.ClientID,
		"$SECRET", ts.f.Secret, "$ID", ts.f.Confidential.ClientID, "$PUB", ts.f.Public.ClientID,
		"$AT", iss.AccessToken, "$RT", iss.RefreshToken,
	)
	hc := *ts.Client()
	hc.Timeout = 10 * time.Second
	return &fuzzServer{testServer: ts, vars: vars, hc: &hc}
}

// expand fills a template: variables first, then b64(…) segments.
func (fs *fuzzServer) expand(s string) string {
	s = fs.vars.Replace(s)
	for {
		i := strings.Index(s, "b64(")
		if i < 0 {
			return s
		}
		j := strings.IndexByte(s[i+4:], ')')
		if j < 0 {
			return s
		}
		s = s[:i] + base64.StdEncoding.EncodeToString([]byte(s[i+4:i+4+j])) + s[i+4+j+1:]
	}
}

// send makes one request and checks the answer. It returns without
// checking when net/http itself would not send the request, since then no
// server ever sees it.
func (fs *fuzzServer) send(t *testing.T, method, path, query, ctype string, hdr map[string]string, body string) {
	t.Helper()
	if !validMethod(method) || method == "CONNECT" || !validQuery(query) || !validHeaderValue(ctype) {
		return
	}
	for _, v := range hdr {
		if !validHeaderValue(v) {
			return
		}
	}
	u := fs.URL + path
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return // a URL net/http cannot parse is never sent
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := fs.hc.Do(req)
	if err != nil {
		// The input passed net/http's own checks, so the server hung up:
		// a panic that escaped the recover middleware, or worse.
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	checkAnswer(t, method, path, resp, raw)
}

// checkAnswer holds every answer of a machine endpoint to the contract in
// the comment at the top of this file.
func checkAnswer(t *testing.T, method, path string, resp *http.Response, raw []byte) {
	t.Helper()
	status := resp.StatusCode
	if status >= 500 {
		t.Fatalf("%s %s: status %d, want never a 5xx for a client's input: %s", method, path, status, raw)
	}
	if resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("%s %s: status %d without X-Request-Id: the answer did not come from Latchkey (%s)", method, path, status, raw)
	}
	if method == "HEAD" {
		raw = nil // no body, whatever the status
	}
	endpoint := strings.TrimSuffix(path, "/")
	switch {
	case status == http.StatusOK:
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s %s: 200 with Cache-Control %q, want no-store", method, path, cc)
		}
		if method == "HEAD" {
			return
		}
		switch endpoint {
		case "/o/revoke_token":
			if len(raw) != 0 {
				t.Errorf("%s %s: 200 with body %q, want an empty body (RFC 7009 §2.2)", method, path, raw)
			}
		case "/o/token":
			var tok struct {
				AccessToken string `json:"access_token"`
				TokenType   string `json:"token_type"`
			}
			if err := json.Unmarshal(raw, &tok); err != nil || tok.AccessToken == "" || tok.TokenType != "Bearer" {
				t.Errorf("%s %s: 200 with %q, want a token response (RFC 6749 §5.1)", method, path, raw)
			}
		case "/o/introspect":
			var in map[string]any
			if err := json.Unmarshal(raw, &in); err != nil {
				t.Errorf("%s %s: 200 with %q, want JSON (RFC 7662 §2.2)", method, path, raw)
			} else if _, ok := in["active"].(bool); !ok {
				t.Errorf("%s %s: 200 with %q, want an active member", method, path, raw)
			}
		}
	case status == http.StatusNoContent && method == "OPTIONS" && endpoint == "/o/revoke_token":
		// A CORS preflight for a browser client's revocation.
	case status == http.StatusTooManyRequests && endpoint == "/o/token" && resp.Header.Get("Retry-After") == "":
		t.Errorf("%s %s: 429 without Retry-After", method, path)
	case status == 400 || status == 401 || status == 405 || status == 413 ||
		// The password grant's throttle: a fuzzer guesses many passwords
		// from one address (RFC 6749 §5.2 body, with Retry-After).
		status == http.StatusTooManyRequests && endpoint == "/o/token":
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s %s: status %d with Content-Type %q, want JSON", method, path, status, ct)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("%s %s: status %d with Cache-Control %q, want no-store", method, path, status, cc)
		}
		if status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate (RFC 6749 §5.2)", method, path)
		}
		if status == 405 && resp.Header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow (RFC 9110 §15.5.6)", method, path)
		}
		if method == "HEAD" {
			return
		}
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(raw, &e); err != nil || !rfcErrors[e.Error] && !(status == http.StatusTooManyRequests && e.Error == "temporarily_unavailable") {
			t.Errorf("%s %s: status %d with %q, want a JSON error with an RFC 6749 §5.2 code", method, path, status, raw)
		}
	default:
		t.Errorf("%s %s: status %d (%s), want 200, 400, 401, 405 or 413 (or 429 from the token endpoint)", method, path, status, raw)
	}
}

// validMethod reports whether m is an RFC 9110 token, as net/http requires
// of a method before it sends one.
func validMethod(m string) bool {
	if m == "" {
		return true // net/http sends GET
	}
	for i := range len(m) {
		c := m[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validHeaderValue reports whether net/http would send v: no control
// characters but tab.
func validHeaderValue(v string) bool {
	for i := range len(v) {
		if c := v[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validQuery reports whether q can travel in a request line: nothing that
// would end the request target or the URL.
func validQuery(q string) bool {
	for i := range len(q) {
		if c := q[i]; c <= ' ' || c == 0x7f || c == '#' {
			return false
		}
	}
	return true
}

// FuzzClientAuth fuzzes client authentication (RFC 6749 §2.3.1; RFC 7009
// §2.1 for revocation): the Authorization header and the body's client_id,
// client_secret and other parameters, at the token, revocation and
// introspection endpoints.
func FuzzClientAuth(f *testing.F) {
	seeds := []struct {
		path    uint8
		authz   string
		body    string
		twoAuth bool
	}{
		// DOT's tutorial: credentials in the body.
		{1, "", "token=$AT&client_id=$ID&client_secret=$SECRET", false},
		{0, "", "grant_type=client_credentials&client_id=$ID&client_secret=$SECRET", false},
		{2, "", "token=$AT&client_id=$ID&client_secret=$SECRET", false},
		// HTTP Basic, scheme name in any case, URL-encoded credentials.
		{0, "Basic b64($ID:$SECRET)", "grant_type=client_credentials", false},
		{1, "basic b64($ID:$SECRET)", "token=$RT&token_type_hint=refresh_token", false},
		{2, "BASIC  b64($ID:$SECRET) ", "token=$AT&token_type_hint=access_token", false},
		{1, "Basic b64(%24ID:$SECRET)", "token=$AT", false},
		{1, "Basic b64($ID:%zz)", "token=$AT", false},
		{1, "Basic b64($ID)", "token=$AT", false},
		{1, "Basic b64(:$SECRET)", "token=$AT", false},
		{1, "Basic !!!", "token=$AT", false},
		{1, "Basic", "token=$AT", false},
		{1, "Bearer $AT", "token=$AT", false},
		{1, "", "token=$AT", false},
		// Two methods at once, two headers, mismatched ids.
		{1, "Basic b64($ID:$SECRET)", "token=$AT&client_secret=$SECRET", false},
		{1, "Basic b64($ID:$SECRET)", "token=$AT&client_id=$OTHER", false},
		{1, "Basic b64($ID:$SECRET)", "token=$AT&client_id=$ID", false},
		{0, "Basic b64($ID:$SECRET)", "grant_type=client_credentials", true},
		// Public clients: bare client_id, Basic with an empty secret, a
		// public client that sends a secret.
		{1, "", "token=$AT&client_id=$PUB", false},
		{1, "Basic b64($PUB:)", "token=$AT", false},
		{1, "", "token=$AT&client_id=$PUB&client_secret=", false},
		{2, "", "token=$AT&client_id=$PUB", false},
		{0, "", "grant_type=password&username=alice&password=correct+horse+battery&client_id=$PUB", false},
		// Wrong secrets, another client's token, duplicates.
		{1, "", "token=$AT&client_id=$ID&client_secret=$OTHER_SECRET", false},
		{1, "", "token=$AT&client_id=$OTHER&client_secret=$OTHER_SECRET", false},
		{1, "", "token=$AT&client_id=$ID&client_id=$ID&client_secret=$SECRET", false},
		{0, "", "grant_type=refresh_token&refresh_token=$RT&client_id=$ID&client_secret=$SECRET", false},
		{0, "Basic b64($ID:$SECRET)", "grant_type=password&username=alice&password=correct+horse+battery&scope=read", false},
		{3, "Basic b64($ID+:$SECRET)", "grant_type=client_credentials", false},
	}
	for _, s := range seeds {
		f.Add(s.path, s.authz, s.body, s.twoAuth)
	}
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, path uint8, authz, body string, twoAuth bool) {
		p := fuzzPaths[int(path)%len(fuzzPaths)]
		authz, body = fs.expand(authz), fs.expand(body)
		if !validHeaderValue(authz) {
			return
		}
		req, err := http.NewRequest("POST", fs.URL+p, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if authz != "" || twoAuth {
			req.Header.Add("Authorization", authz)
		}
		if twoAuth {
			req.Header.Add("Authorization", authz)
		}
		resp, err := fs.hc.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", p, err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("POST %s: reading the answer: %v", p, err)
		}
		checkAnswer(t, "POST", p, resp, raw)
		if twoAuth && resp.StatusCode != 400 {
			t.Errorf("POST %s with two Authorization headers: status %d, want 400 invalid_request", p, resp.StatusCode)
		}
	})
}

// FuzzRequestParsing fuzzes what reaches the form parser (RFC 6749 §3.1,
// §3.2; RFC 7009 §2.1): the method, the Content-Type, the query
// string and the raw body, at the token, revocation and introspection
// endpoints, with or without the confidential client's HTTP Basic
// credentials.
func FuzzRequestParsing(f *testing.F) {
	const form = "application/x-www-form-urlencoded"
	seeds := []struct {
		path   uint8
		method string
		ctype  string
		query  string
		body   string
		basic  bool
	}{
		{1, "POST", form, "", "token=$AT&client_id=$ID&client_secret=$SECRET", false},
		{0, "POST", form, "", "grant_type=client_credentials", true},
		{2, "POST", form, "", "token=$RT", true},
		{4, "POST", form + "; charset=utf-8", "", "token=$AT", true},
		{5, "POST", form + "; charset=ISO-8859-1", "", "token=$AT", true},
		{1, "POST", "Application/X-WWW-Form-URLEncoded ; charset=\"UTF-8\"", "", "token=$AT", true},
		{1, "POST", "application/json", "", `{"token":"$AT"}`, true},
		{1, "POST", "multipart/form-data; boundary=x", "", "--x\r\nContent-Disposition: form-data; name=\"token\"\r\n\r\n$AT\r\n--x--\r\n", true},
		{1, "POST", "text/plain", "", "token=$AT", true},
		{1, "POST", "", "", "token=$AT", true},
		{1, "POST", ";;;", "", "token=$AT", true},
		{1, "POST", form, "token=$AT", "", true},
		{0, "POST", form, "client_secret=$SECRET", "grant_type=client_credentials&client_id=$ID", false},
		{1, "POST", form, "", "token=$AT&token=$RT", true},
		{1, "POST", form, "", "token=%zz", true},
		{1, "POST", form, "", "token=$AT;x=1", true},
		{1, "POST", form, "", "=&&=&token", true},
		{1, "POST", form, "", "token=$AT&token_type_hint=bogus", true},
		{1, "POST", form, "", "token=", true},
		{1, "POST", form, "", "", true},
		{1, "GET", "", "token=$AT", "", true},
		{0, "PUT", form, "", "grant_type=client_credentials", true},
		{1, "DELETE", form, "", "token=$AT", true},
		{1, "OPTIONS", "", "", "", false},
		{0, "OPTIONS", "", "", "", false},
		{2, "HEAD", "", "", "", true},
		{2, "PATCH", form, "", "token=$AT", true},
		// testdata/fuzz/FuzzRequestParsing holds more, among them the
		// methods echo does not know, which once answered 403.
	}
	for _, s := range seeds {
		f.Add(s.path, s.method, s.ctype, s.query, s.body, s.basic)
	}
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, path uint8, method, ctype, query, body string, basic bool) {
		p := fuzzPaths[int(path)%len(fuzzPaths)]
		var hdr map[string]string
		if basic {
			hdr = map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString(
				[]byte(url.QueryEscape(fs.f.Confidential.ClientID)+":"+url.QueryEscape(fs.f.Secret)))}
		}
		fs.send(t, method, p, fs.expand(query), ctype, hdr, fs.expand(body))
	})
}
