package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// targetAddr is the host:port of an http:// base URL.
func targetAddr(target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return "", errors.New("not a URL; give the server's base URL, such as http://127.0.0.1:8080")
	}
	if u.Scheme != "http" {
		return "", errors.New("only http:// is supported (the load client speaks plain HTTP/1.1; measure behind TLS with wrk)")
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil {
		return "", errors.New("give the base URL only, without a path, query or user")
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "80"), nil
	}
	return u.Host, nil
}

// basicAuth is client_secret_basic (RFC 6749 §2.3.1): the id and secret
// are each form-urlencoded before they are joined.
func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// accessToken takes the access_token out of a token response without a
// JSON decoder, to keep the load generator's CPU use down. Tokens are
// base64url text, so they hold no character JSON escapes.
func accessToken(body []byte) (string, bool) {
	const key = `"access_token":"`
	i := bytes.Index(body, []byte(key))
	if i < 0 {
		return "", false
	}
	rest := body[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j <= 0 {
		return "", false
	}
	return string(rest[:j]), true
}

// driveIssue measures client_credentials issuance. When pool is not nil,
// it keeps every access token issued.
func (a *app) driveIssue(ctx context.Context, o benchOptions, addr, auth string, pool *tokenPool) benchResult {
	r := drive(ctx, o, addr, func(c *loadConn) (bool, error) {
		status, body, err := c.post("/o/token/", auth, "grant_type=client_credentials")
		if err != nil || status != 200 {
			return false, fmt.Errorf("status %d: %w", status, err)
		}
		tok, ok := accessToken(body)
		if !ok {
			return false, errors.New("no access_token in the answer")
		}
		pool.add(tok)
		return true, nil
	})
	r.name = "issue"
	return r
}

// tokenPool collects issued tokens from many load clients.
type tokenPool struct {
	mu   sync.Mutex
	toks []string
}

func (p *tokenPool) add(tok string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.toks = append(p.toks, tok)
	p.mu.Unlock()
}

// benchTarget measures a running server: issuance (collecting the tokens),
// revocation of those tokens, a check that a sample of the revoked ones is
// inactive, and introspection of the ones kept live.
func (a *app) benchTarget(ctx context.Context, o benchOptions) ([]benchResult, error) {
	addr, _ := targetAddr(o.target)
	auth := basicAuth(o.clientID, o.clientSecret)
	fmt.Fprintf(a.stdout, "target: %s; load generator: %d CPUs (GOMAXPROCS %d), %s\n",
		o.target, runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())

	// One request of each kind first, so that wrong credentials or a
	// client without the grant is one clear error, not a run of failures.
	probe := &loadConn{addr: addr}
	status, body, err := probe.post("/o/token/", auth, "grant_type=client_credentials")
	if err != nil {
		return nil, fmt.Errorf("cannot reach %s: %w", o.target, err)
	}
	tok, ok := accessToken(body)
	if status != 200 || !ok {
		return nil, fmt.Errorf("the target refused client_credentials for this client (status %d): %s", status, firstLine(body))
	}
	status, body, err = probe.post("/o/introspect/", auth, "token="+tok)
	probe.close()
	if err != nil || status != 200 || !bytes.HasPrefix(body, []byte(`{"active":true,`)) {
		return nil, fmt.Errorf("the target did not introspect this client's token as active (status %d): %s", status, firstLine(body))
	}
	var cross *crossCheck
	if o.replica != "" {
		raddr, _ := targetAddr(o.replica)
		probe = &loadConn{addr: raddr}
		status, body, err = probe.post("/o/introspect/", auth, "token="+tok)
		probe.close()
		if err != nil || status != 200 || !bytes.HasPrefix(body, []byte(`{"active":true,`)) {
			return nil, fmt.Errorf("the replica did not introspect the target's token as active (status %d; is it on the same database?): %s", status, firstLine(body))
		}
		cross = newCrossCheck(addr, raddr, auth)
		if o.split {
			o.alt = raddr
			fmt.Fprintf(a.stdout, "load split between %s and %s\n", o.target, o.replica)
		}
	}

	// Phase 1: issuance.
	pool := &tokenPool{}
	issue := a.driveIssue(ctx, o, addr, auth, pool)
	a.report(o, issue)
	want := o.clients + 1
	if o.tokensSet {
		want = max(want, o.tokens)
	}
	if len(pool.toks) < want {
		// Top up, unmeasured, to the requested pool.
		fill := o
		fill.duration = 10 * time.Minute
		var n atomic.Int64
		n.Store(int64(len(pool.toks)))
		drive(ctx, fill, addr, func(c *loadConn) (bool, error) {
			if n.Add(1) > int64(want) {
				return false, errExhausted
			}
			status, body, err := c.post("/o/token/", auth, "grant_type=client_credentials")
			tok, ok := accessToken(body)
			if err != nil || status != 200 || !ok {
				return false, fmt.Errorf("status %d: %w", status, err)
			}
			pool.add(tok)
			return true, nil
		})
		fmt.Fprintf(a.stdout, "  issued %d tokens in all\n", len(pool.toks))
	}
	toks := pool.toks

	// Phase 2: revocation of distinct tokens; a tenth stays live for
	// introspection.
	reserve := max(len(toks)/10, 1)
	var next atomic.Int64
	answered := make([]bool, len(toks))
	rev := drive(ctx, o, addr, func(c *loadConn) (bool, error) {
		i := int(next.Add(1) - 1)
		if i >= len(toks)-reserve {
			return false, errExhausted
		}
		status, _, err := c.post("/o/revoke_token/", auth, "token="+toks[i])
		if err != nil || status != 200 {
			return false, fmt.Errorf("status %d: %w", status, err)
		}
		answered[i] = true
		cross.revoked(c.addr, toks[i])
		return true, nil
	})
	rev.name = "revoke"
	a.report(o, rev)
	late := 0
	if cross != nil {
		var line string
		line, late = cross.finish()
		fmt.Fprintln(a.stdout, "  "+line)
	}
	if rev.ok == 0 {
		return nil, errors.New("no revocation was answered 200")
	}
	// Every 200 must mean revoked: introspect a sample, spread over the
	// run, and expect each inactive.
	var done []int
	for i, ok := range answered {
		if ok {
			done = append(done, i)
		}
	}
	step := max(1, len(done)/500)
	checked, active := 0, 0
	vc := &loadConn{addr: addr}
	for j := 0; j < len(done); j += step {
		status, body, err := vc.post("/o/introspect/", auth, "token="+toks[done[j]])
		if err != nil || status != 200 {
			vc.close()
			return nil, fmt.Errorf("checking a revoked token: status %d: %v", status, err)
		}
		checked++
		if !bytes.HasPrefix(body, []byte(`{"active":false`)) {
			active++
		}
	}
	vc.close()
	fmt.Fprintf(a.stdout, "  verified: introspected %d of %d answered tokens; %d inactive, %d still active\n",
		checked, len(done), checked-active, active)

	// Phase 3: introspection of the tokens kept live.
	live := toks[min(int(next.Load()), len(toks)-reserve):]
	var k atomic.Int64
	intro := drive(ctx, o, addr, func(c *loadConn) (bool, error) {
		tok := live[int(k.Add(1)-1)%len(live)]
		status, body, err := c.post("/o/introspect/", auth, "token="+tok)
		if err != nil || status != 200 {
			return false, fmt.Errorf("status %d: %w", status, err)
		}
		if !bytes.HasPrefix(body, []byte(`{"active":true,`)) {
			return false, errors.New("a live token was reported inactive")
		}
		return true, nil
	})
	intro.name = "introspect"
	a.report(o, intro)
	results := []benchResult{issue, rev, intro}
	if active > 0 {
		return results, fmt.Errorf("%d revoked tokens answered 200 but are still active", active)
	}
	if late > 0 {
		return results, fmt.Errorf("%d revocations answered 200 were not refused at once by the other replica", late)
	}
	return results, nil
}

// crossCheck measures, for a sample of the revocations one server answers
// 200, how long until the other server on the same database introspects
// the token as inactive. Nothing is cached, so the first answer must
// already be inactive. Two goroutines of their own do the checks, so the
// revocation latencies do not include them; a sample is dropped when both
// are busy.
type crossCheck struct {
	addrs [2]string
	auth  string
	n     atomic.Int64
	todo  chan crossSample
	wg    sync.WaitGroup

	mu                  sync.Mutex
	lat                 []time.Duration
	first, never, error int
}

type crossSample struct {
	tok, to string
	at      time.Time
}

// crossEvery is the sampling: one revocation in crossEvery is checked.
const crossEvery = 16

func newCrossCheck(target, replica, auth string) *crossCheck {
	x := &crossCheck{addrs: [2]string{target, replica}, auth: auth, todo: make(chan crossSample, 64)}
	for range 2 {
		x.wg.Go(x.work)
	}
	return x
}

// revoked is called when the server at from answered 200 for tok.
func (x *crossCheck) revoked(from, tok string) {
	if x == nil || x.n.Add(1)%crossEvery != 0 {
		return
	}
	to := x.addrs[0]
	if from == to {
		to = x.addrs[1]
	}
	select {
	case x.todo <- crossSample{tok: tok, to: to, at: time.Now()}:
	default:
	}
}

func (x *crossCheck) work() {
	conns := map[string]*loadConn{}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	for s := range x.todo {
		c := conns[s.to]
		if c == nil {
			c = &loadConn{addr: s.to}
			conns[s.to] = c
		}
		tries, failed := 0, false
		for {
			tries++
			status, body, err := c.post("/o/introspect/", x.auth, "token="+s.tok)
			if err != nil || status != 200 {
				failed = true
				break
			}
			if bytes.HasPrefix(body, []byte(`{"active":false`)) || time.Since(s.at) > 5*time.Second {
				break
			}
		}
		d := time.Since(s.at)
		x.mu.Lock()
		switch {
		case failed:
			x.error++
		case d > 5*time.Second:
			x.never++
		default:
			x.lat = append(x.lat, d)
			if tries == 1 {
				x.first++
			}
		}
		x.mu.Unlock()
	}
}

// finish waits for the checks in flight and says what they found, and how
// many sampled tokens were not inactive at the first introspection.
func (x *crossCheck) finish() (string, int) {
	close(x.todo)
	x.wg.Wait()
	r := benchResult{latencies: x.lat}
	slices.Sort(r.latencies)
	return fmt.Sprintf("across replicas: %d sampled revocations checked on the other server; %d inactive at the first introspection, "+
			"%d later, %d still active after 5s, %d errors; 200 to inactive p50 %v, p99 %v, max %v",
			len(x.lat)+x.never+x.error, x.first, len(x.lat)-x.first, x.never, x.error,
			r.quantile(0.5).Round(10*time.Microsecond), r.quantile(0.99).Round(10*time.Microsecond), r.quantile(1).Round(10*time.Microsecond)),
		len(x.lat) - x.first + x.never + x.error
}

// firstLine is the start of an error answer, for a message.
func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// benchCeiling measures what the machine allows for this kind of request:
// a plain net/http server, on its own loopback listener, that parses the
// revocation endpoint's form body (urlencoded, at most 64 KiB, a token and
// an Authorization header required) and answers a small JSON. Nothing is
// stored and nobody is authenticated: it is the floor of any real server's
// cost per request, measured with the same load client and settings.
func (a *app) benchCeiling(ctx context.Context, o benchOptions) (benchResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return benchResult{}, err
	}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(ceilingHandler)}
	go srv.Serve(ln)
	defer srv.Close()
	addr := ln.Addr().String()
	var k atomic.Int64
	r := drive(ctx, o, addr, func(c *loadConn) (bool, error) {
		body := "token=ceiling-" + fmt.Sprint(k.Add(1))
		status, resp, err := c.post("/o/revoke_token/", basicAuth("ceiling", "secret"), body)
		if err != nil || status != 200 || !bytes.HasPrefix(resp, []byte(`{"ok":true}`)) {
			return false, fmt.Errorf("status %d: %w", status, err)
		}
		return true, nil
	})
	r.name = "ceiling"
	a.report(o, r)
	if r.ok == 0 {
		return r, errors.New("the ceiling server answered nothing")
	}
	return r, nil
}

// ceilingHandler is the ceiling server's one handler.
func ceilingHandler(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10+1))
	if err != nil || len(body) > 64<<10 {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil || form.Get("token") == "" || r.Header.Get("Authorization") == "" {
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.Write([]byte(`{"ok":true}` + "\n"))
}
