package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/latchkey/latchkey/guard"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/models/modelstest"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// guardRig is a real Latchkey (`latchkey serve`, in-process, on a SQLite
// file) behind a counting proxy that can cut its event endpoints, a real
// upstream, and `latchkey guard` in front of the upstream.
type guardRig struct {
	t        *testing.T
	c        *cli
	st       *models.Store
	f        *modelstest.Fixture
	issuer   string // the proxy in front of Latchkey
	guardURL string
	upstream *recordingUpstream
	proxy    *latchkeyProxy
	guardLog *syncBuffer
}

// latchkeyProxy forwards to Latchkey, counts introspection calls, and can
// cut the SSF endpoints as a network failure would.
type latchkeyProxy struct {
	srv            *httptest.Server
	target         atomic.Pointer[url.URL]
	introspections atomic.Int64
	cut            atomic.Bool
}

func (p *latchkeyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.cut.Load() && strings.HasPrefix(r.URL.Path, "/ssf/") {
		panic(http.ErrAbortHandler) // the connection drops, no answer
	}
	if strings.TrimSuffix(r.URL.Path, "/") == "/o/introspect" {
		p.introspections.Add(1)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(p.target.Load())
		pr.Out.Host = pr.In.Host
	}, ErrorLog: log.New(io.Discard, "", 0)} // long polls cut at the end of a test
	rp.ServeHTTP(w, r)
}

// recordingUpstream is the API behind the guard: it remembers the headers
// of the last request it got.
type recordingUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	last http.Header
	hits int
}

func (u *recordingUpstream) lastHeaders() (http.Header, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last.Clone(), u.hits
}

func newGuardRig(t *testing.T, staleAfter time.Duration) *guardRig {
	t.Helper()
	r := &guardRig{t: t, c: newCLI(t), proxy: &latchkeyProxy{}, guardLog: &syncBuffer{}}
	r.st = r.c.store()
	r.f = modelstest.NewFixture(t, r.st)
	gc, err := r.st.CreateClient(context.Background(), models.NewClient{Name: "API guard", Type: models.ClientConfidential,
		GrantTypes: []models.GrantType{models.GrantClientCredentials}, Introspect: true, SSF: true})
	if err != nil {
		t.Fatal(err)
	}
	r.proxy.srv = httptest.NewServer(r.proxy)
	t.Cleanup(r.proxy.srv.Close)
	r.issuer = r.proxy.srv.URL

	base := r.start(regexp.MustCompile(`Latchkey listening on (http://\S+)`), &syncBuffer{},
		"--db", r.c.db, "serve", "--addr", "127.0.0.1:0", "--issuer", r.issuer, "--push-allow-private")
	u, _ := url.Parse(base)
	r.proxy.target.Store(u)

	r.upstream = &recordingUpstream{}
	r.upstream.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.upstream.mu.Lock()
		r.upstream.last, r.upstream.hits = req.Header.Clone(), r.upstream.hits+1
		r.upstream.mu.Unlock()
		io.WriteString(w, "hello from upstream")
	}))
	t.Cleanup(r.upstream.Close)

	r.c.env["LATCHKEY_GUARD_CLIENT_ID"] = gc.Client.ClientID
	r.c.env["LATCHKEY_GUARD_CLIENT_SECRET"] = gc.Secret
	r.guardURL = r.start(regexp.MustCompile(`Latchkey guard listening on (http://\S+),`), r.guardLog,
		"guard", "--issuer", r.issuer, "--upstream", r.upstream.URL, "--listen", "127.0.0.1:0", "--stale-after", staleAfter.String())
	r.waitLog("event stream live", 10*time.Second)
	return r
}

// start runs one latchkey command until the test ends and returns the
// URL its stdout announces.
func (r *guardRig) start(announce *regexp.Regexp, stderr *syncBuffer, args ...string) string {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, args, strings.NewReader(""), &out, stderr, func(k string) string { return r.c.env[k] })
	}()
	r.t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			r.t.Errorf("latchkey %s did not stop", args[0])
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if m := announce.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		select {
		case code := <-done:
			r.t.Fatalf("latchkey %v exited %d: %s", args, code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("latchkey %v did not start: %s", args, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (r *guardRig) waitLog(s string, d time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for !strings.Contains(r.guardLog.String(), s) {
		if time.Now().After(deadline) {
			r.t.Fatalf("the guard did not log %q within %v:\n%s", s, d, r.guardLog.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// token gets an access token for alice at the fixture's client through
// x/oauth2 (password grant), from Latchkey through the proxy.
func (r *guardRig) token(t *testing.T) string {
	t.Helper()
	cfg := oauth2.Config{ClientID: r.f.Confidential.ClientID, ClientSecret: r.f.Secret,
		Endpoint: oauth2.Endpoint{TokenURL: r.issuer + "/o/token/", AuthStyle: oauth2.AuthStyleInHeader}}
	tok, err := cfg.PasswordCredentialsToken(context.Background(), "alice", modelstest.Password)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// call sends GET /things through the guard with the token (if any) and
// extra headers; it returns the status and the WWW-Authenticate header.
func (r *guardRig) call(t *testing.T, token string, hdr map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", r.guardURL+"/things", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header[k] = []string{v} // as sent, not canonicalized
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// refusedWithin checks that the guard refuses token with invalid_token
// within d of now, and says how long it took.
func (r *guardRig) refusedWithin(t *testing.T, token string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		code, challenge := r.call(t, token, nil)
		if code == http.StatusUnauthorized {
			if !strings.Contains(challenge, `error="invalid_token"`) {
				t.Errorf("challenge %q: want error=\"invalid_token\"", challenge)
			}
			return time.Since(start)
		}
		if code != http.StatusOK {
			t.Fatalf("guard answered %d", code)
		}
		if time.Since(start) > d {
			t.Fatalf("the guard still accepts the revoked token after %v; its log:\n%s", d, r.guardLog.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// accepted checks that token passes the guard now.
func (r *guardRig) accepted(t *testing.T, token string) {
	t.Helper()
	if code, ch := r.call(t, token, nil); code != 200 {
		t.Fatalf("a live token: got %d %q, want 200", code, ch)
	}
}

// TestGuardInFrontOfUpstream runs `latchkey guard` against a real Latchkey
// in front of a real upstream: a live token gets through with the identity
// headers (never the client's own), costs one introspection call however
// often it is used, and is refused within a second of its revocation
// through the endpoint, the dashboard and the command line.
func TestGuardInFrontOfUpstream(t *testing.T) {
	t.Parallel()
	r := newGuardRig(t, 30*time.Second)

	code, challenge := r.call(t, "", nil)
	if code != 401 || challenge != `Bearer realm="latchkey"` {
		t.Errorf("no token: got %d %q, want 401 with a bare Bearer challenge", code, challenge)
	}
	if code, challenge := r.call(t, "lk_at_unknown", nil); code != 401 || !strings.Contains(challenge, `error="invalid_token"`) {
		t.Errorf("unknown token: got %d %q, want 401 invalid_token", code, challenge)
	}
	if _, hits := r.upstream.lastHeaders(); hits != 0 {
		t.Errorf("the upstream got %d refused requests", hits)
	}

	tok := r.token(t)
	before := r.proxy.introspections.Load()
	forged := map[string]string{"X-Latchkey-User": "root", "x-latchkey-scope": "admin", "X_Latchkey_Client": "evil", "X-LATCHKEY-CLIENT": "evil"}
	if code, ch := r.call(t, tok, forged); code != 200 {
		t.Fatalf("a live token with forged headers: got %d %q, want 200", code, ch)
	}
	h, _ := r.upstream.lastHeaders()
	want := map[string]string{"X-Latchkey-User": "alice", "X-Latchkey-Client": r.f.Confidential.ClientID, "X-Latchkey-Scope": "read write"}
	for k, v := range want {
		if got := h.Values(k); len(got) != 1 || got[0] != v {
			t.Errorf("upstream saw %s %q, want %q", k, got, v)
		}
	}
	for k := range h {
		if strings.HasPrefix(strings.ToLower(strings.ReplaceAll(k, "_", "-")), "x-latchkey-") && want[k] == "" {
			t.Errorf("upstream saw the client's %s: %q", k, h[k])
		}
	}
	if h.Get("Authorization") != "Bearer "+tok {
		t.Errorf("upstream Authorization: the token was not passed on")
	}
	for range 20 {
		r.accepted(t, tok)
	}
	if n := r.proxy.introspections.Load() - before; n != 1 {
		t.Errorf("introspection calls for 21 requests with one live token: got %d, want 1", n)
	}

	t.Run("revoked at the endpoint", func(t *testing.T) {
		r.accepted(t, tok)
		form := url.Values{"token": {tok}}
		req, _ := http.NewRequest("POST", r.issuer+"/o/revoke_token/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(r.f.Confidential.ClientID, r.f.Secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("revoke: %v %v", err, resp)
		}
		resp.Body.Close()
		t.Logf("refused %v after the revocation's 200", r.refusedWithin(t, tok, time.Second))
	})

	t.Run("revoked on the dashboard", func(t *testing.T) {
		tok := r.token(t)
		r.accepted(t, tok)
		info, err := r.st.ActiveToken(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		b := newDashboard(t, r.issuer)
		b.login("admin")
		action := "/admin/grants/" + strconv.FormatInt(info.Token.GrantID, 10) + "/revoke"
		form := b.form(action, action)
		form.Set("reason", "laptop stolen")
		if code := b.post(action, form); code != http.StatusSeeOther && code != http.StatusOK {
			t.Fatalf("dashboard revoke: %d", code)
		}
		t.Logf("refused %v after the dashboard's answer", r.refusedWithin(t, tok, time.Second))
	})

	t.Run("revoked from the command line", func(t *testing.T) {
		tok := r.token(t)
		r.accepted(t, tok)
		if out := r.c.ok(tok+"\n", "revoke", "--token", "-"); !strings.Contains(out, "revoked 1 grant") {
			t.Fatalf("latchkey revoke: %q", out)
		}
		t.Logf("refused %v after the command returned", r.refusedWithin(t, tok, time.Second))
	})

	t.Run("a refresh retires the access token before it", func(t *testing.T) {
		// SPEC: "the access tokens issued before it stop working". A
		// refresh revokes nothing and sends no event; the guard learns it
		// from the session's newer token.
		cfg := oauth2.Config{ClientID: r.f.Confidential.ClientID, ClientSecret: r.f.Secret,
			Endpoint: oauth2.Endpoint{TokenURL: r.issuer + "/o/token/", AuthStyle: oauth2.AuthStyleInHeader}}
		old, err := cfg.PasswordCredentialsToken(context.Background(), "alice", modelstest.Password)
		if err != nil {
			t.Fatal(err)
		}
		r.accepted(t, old.AccessToken)
		r.accepted(t, old.AccessToken) // now from the cache
		fresh, err := cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: old.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
		if err != nil || fresh.AccessToken == old.AccessToken {
			t.Fatalf("refresh: %v", err)
		}
		r.accepted(t, fresh.AccessToken)
		if code, challenge := r.call(t, old.AccessToken, nil); code != http.StatusUnauthorized || !strings.Contains(challenge, `error="invalid_token"`) {
			t.Errorf("the access token the refresh retired: got %d %q, want 401 invalid_token", code, challenge)
		}
		r.accepted(t, fresh.AccessToken)
	})

	t.Run("all of a user's grants from the command line", func(t *testing.T) {
		tok1, tok2 := r.token(t), r.token(t)
		r.accepted(t, tok1)
		r.accepted(t, tok2)
		r.c.ok("", "revoke", "--user", "alice")
		r.refusedWithin(t, tok1, time.Second)
		r.refusedWithin(t, tok2, time.Second)
	})
}

// TestGuardFallsBackWhenEventsStop: with Latchkey's event endpoints cut,
// the guard stops trusting its cache after --stale-after and introspects
// every request, so a token revoked meanwhile is refused; once the stream
// is back it caches again.
func TestGuardFallsBackWhenEventsStop(t *testing.T) {
	t.Parallel()
	stale := 2 * time.Second
	r := newGuardRig(t, stale)
	tok, live := r.token(t), r.token(t)
	r.accepted(t, tok)
	r.accepted(t, live)
	before := r.proxy.introspections.Load()
	r.accepted(t, tok)
	r.accepted(t, live)
	if n := r.proxy.introspections.Load() - before; n != 0 {
		t.Fatalf("cached tokens while the stream is live: %d introspection calls, want 0", n)
	}

	r.proxy.cut.Store(true)
	r.proxy.srv.CloseClientConnections() // the long poll in flight too
	cut := time.Now()
	info, err := r.st.ActiveToken(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.st.Revoke(context.Background(), models.RevokeRequest{GrantID: info.Token.GrantID, Actor: models.System(), Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	r.refusedWithin(t, tok, stale+time.Second)
	t.Logf("refused %v after the stream was cut (bound %v)", time.Since(cut), stale)
	r.waitLog("introspecting every request", time.Second)
	before = r.proxy.introspections.Load()
	for range 5 {
		r.accepted(t, live)
	}
	if n := r.proxy.introspections.Load() - before; n != 5 {
		t.Errorf("5 requests while the stream is cut: %d introspection calls, want 5", n)
	}

	r.proxy.cut.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(r.guardLog.String(), "event stream live") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the guard did not recover:\n%s", r.guardLog.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.accepted(t, live)
	before = r.proxy.introspections.Load()
	for range 5 {
		r.accepted(t, live)
	}
	if n := r.proxy.introspections.Load() - before; n != 0 {
		t.Errorf("after recovery: %d introspection calls for a cached token, want 0", n)
	}
}

// TestGuardUsageErrors: a bad command line is one line on stderr and exit 2.
func TestGuardUsageErrors(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	wantOneLine(t, c.run("", "guard"), 2, "--issuer and --upstream are required")
	wantOneLine(t, c.run("", "guard", "--issuer", "http://a", "--upstream", "ftp://b"), 2, "--upstream must be")
	wantOneLine(t, c.run("", "guard", "--issuer", "a", "--upstream", "http://b"), 2, "--issuer must be")
	wantOneLine(t, c.run("", "guard", "--issuer", "http://a", "--upstream", "http://b", "--listen", "x"), 2, "--listen")
	wantOneLine(t, c.run("", "guard", "--issuer", "http://a", "--upstream", "http://b"), 2, "LATCHKEY_GUARD_CLIENT_ID")
	c.env["LATCHKEY_GUARD_CLIENT_ID"], c.env["LATCHKEY_GUARD_CLIENT_SECRET"] = "id", "secret"
	wantOneLine(t, c.run("", "guard", "--issuer", "http://a", "--upstream", "http://b", "--stale-after", "0s"), 2, "--stale-after")
	wantOneLine(t, c.run("", "guard", "--issuer", "http://a", "--upstream", "http://b", "extra"), 2, "unexpected argument")
}

// dashboard is a staff member's browser without JavaScript: cookies, no
// redirects followed.
type dashboard struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newDashboard(t *testing.T, base string) *dashboard {
	jar, _ := cookiejar.New(nil)
	return &dashboard{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// form GETs page and returns the fields of its form posting to action
// (the CSRF token among them).
func (d *dashboard) form(page, action string) url.Values {
	d.t.Helper()
	resp, err := d.c.Get(d.base + page)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	doc, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		d.t.Fatal(err)
	}
	v, found := url.Values{}, false
	doc.Find("form").Each(func(_ int, f *goquery.Selection) {
		if a, _ := f.Attr("action"); a != action || found {
			return
		}
		found = true
		f.Find("input").Each(func(_ int, in *goquery.Selection) {
			if name, _ := in.Attr("name"); name != "" {
				val, _ := in.Attr("value")
				v.Set(name, val)
			}
		})
	})
	if !found {
		d.t.Fatalf("%s (%d): no form posting to %s", page, resp.StatusCode, action)
	}
	return v
}

func (d *dashboard) post(path string, form url.Values) int {
	d.t.Helper()
	resp, err := d.c.PostForm(d.base+path, form)
	if err != nil {
		d.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (d *dashboard) login(username string) {
	d.t.Helper()
	form := d.form("/login", "/login")
	form.Set("username", username)
	form.Set("password", modelstest.Password)
	if code := d.post("/login", form); code != http.StatusSeeOther {
		d.t.Fatalf("login: %d", code)
	}
}

// TestGuardThroughput measures requests per second through `latchkey
// guard` with a cached token, next to the same reverse proxy without the
// check, over loopback: 5 alternating rounds of 2 s each with 32
// keep-alive clients, medians reported. It runs only with
// LATCHKEY_BENCH_GUARD=1 (docs/benchmarks.md has the figures).
func TestGuardThroughput(t *testing.T) {
	if os.Getenv("LATCHKEY_BENCH_GUARD") != "1" {
		t.Skip("set LATCHKEY_BENCH_GUARD=1 to measure")
	}
	r := newGuardRig(t, 30*time.Second)
	tok := r.token(t)
	r.accepted(t, tok)
	bare := httptest.NewServer(guardProxy(mustParse(t, r.upstream.URL), false, slog.New(slog.DiscardHandler)))
	defer bare.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	measure := func(base string) float64 {
		var n atomic.Int64
		stop := time.Now().Add(2 * time.Second)
		var wg sync.WaitGroup
		for range 32 {
			wg.Go(func() {
				for time.Now().Before(stop) {
					req, _ := http.NewRequest("GET", base+"/things", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					resp, err := hc.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						t.Errorf("status %d", resp.StatusCode)
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		return float64(n.Load()) / 2
	}
	before := r.proxy.introspections.Load()
	var guarded, plain []float64
	for i := range 5 {
		// Which goes first alternates, so that neither gains from order.
		if i%2 == 0 {
			guarded = append(guarded, measure(r.guardURL))
			plain = append(plain, measure(bare.URL))
		} else {
			plain = append(plain, measure(bare.URL))
			guarded = append(guarded, measure(r.guardURL))
		}
	}
	if n := r.proxy.introspections.Load() - before; n != 0 {
		t.Errorf("%d introspection calls during the run, want 0", n)
	}
	ratios := make([]float64, len(guarded))
	for i := range guarded {
		ratios[i] = 100 * guarded[i] / plain[i]
	}
	median := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
	t.Logf("guard: median %.0f req/s (rounds %.0f); bare proxy: median %.0f req/s (rounds %.0f); guard/bare per round %.0f%%, median %.0f%%",
		median(guarded), guarded, median(plain), plain, ratios, median(ratios))
}

func mustParse(t *testing.T, raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestGuardVerifiesLatchkeySETs: a verification event that Latchkey signs
// (go-jose) reaches the guard through its poll stream and passes the
// guard's checks (jwx: signature against jwks_uri, typ, iss, aud).
func TestGuardVerifiesLatchkeySETs(t *testing.T) {
	t.Parallel()
	r := newGuardRig(t, 30*time.Second)
	cc := clientcredentials.Config{ClientID: r.c.env["LATCHKEY_GUARD_CLIENT_ID"], ClientSecret: r.c.env["LATCHKEY_GUARD_CLIENT_SECRET"], TokenURL: r.issuer + "/o/token/"}
	hc := cc.Client(context.Background())
	resp, err := hc.Get(r.issuer + "/ssf/stream")
	if err != nil {
		t.Fatal(err)
	}
	var streams []struct {
		StreamID string `json:"stream_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&streams)
	resp.Body.Close()
	if err != nil || len(streams) != 1 {
		t.Fatalf("the guard's streams: %v %v", streams, err)
	}
	body, _ := json.Marshal(map[string]string{"stream_id": streams[0].StreamID, "state": "hello"})
	resp, err = hc.Post(r.issuer+"/ssf/verify", "application/json", bytes.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("verify: %v %v", err, resp)
	}
	resp.Body.Close()
	r.waitLog("verification event", 2*time.Second)
	if strings.Contains(r.guardLog.String(), "refused") {
		t.Errorf("the guard refused a SET:\n%s", r.guardLog.String())
	}
}

// TestGuardPushMode: the middleware with a push stream (RFC 8935) mounted
// on a resource server of its own: Latchkey's worker pushes the
// verification events the guard asks for, which keep its cache trusted,
// and a revocation, which drops the token within a second.
func TestGuardPushMode(t *testing.T) {
	t.Parallel()
	r := newGuardRig(t, 30*time.Second)
	mux := http.NewServeMux()
	api := httptest.NewServer(mux)
	defer api.Close()
	var logs syncBuffer
	g, err := guard.New(guard.Config{Issuer: r.issuer, ClientID: r.c.env["LATCHKEY_GUARD_CLIENT_ID"], ClientSecret: r.c.env["LATCHKEY_GUARD_CLIENT_SECRET"],
		PushURL: api.URL + "/events", StaleAfter: 3 * time.Second, StreamDescription: "push test", Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/events", g.PushHandler())
	mux.Handle("/", g.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = g.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for !g.Healthy() {
		if time.Now().After(deadline) {
			t.Fatalf("the push stream is not live:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	pushRig := *r
	pushRig.guardURL, pushRig.guardLog = api.URL, &logs
	tok := r.token(t)
	pushRig.accepted(t, tok)
	n := g.Introspections()
	pushRig.accepted(t, tok)
	if g.Introspections() != n {
		t.Errorf("a cached token was introspected again")
	}
	r.c.ok(tok+"\n", "revoke", "--token", "-")
	t.Logf("refused %v after the command returned", pushRig.refusedWithin(t, tok, time.Second))
}
