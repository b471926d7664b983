package guard

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Delivery methods and event types (SSF 1.0, RFC 8935, RFC 8936, CAEP 1.0).
const (
	MethodPush          = "urn:ietf:rfc:8935"
	MethodPoll          = "urn:ietf:rfc:8936"
	EventSessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	EventVerification   = "https://schemas.openid.net/secevent/ssf/event-type/verification"
)

// ssfConfiguration is the part of SSF 1.0 transmitter metadata the guard uses.
type ssfConfiguration struct {
	Issuer                   string   `json:"issuer"`
	JWKSURI                  string   `json:"jwks_uri"`
	DeliveryMethodsSupported []string `json:"delivery_methods_supported"`
	ConfigurationEndpoint    string   `json:"configuration_endpoint"`
	StatusEndpoint           string   `json:"status_endpoint"`
	VerificationEndpoint     string   `json:"verification_endpoint"`
}

// streamConfig is an SSF 1.0 stream configuration, as the transmitter
// answers it.
type streamConfig struct {
	StreamID        string          `json:"stream_id"`
	Iss             string          `json:"iss"`
	Aud             json.RawMessage `json:"aud"`
	EventsDelivered []string        `json:"events_delivered"`
	Delivery        struct {
		Method      string `json:"method"`
		EndpointURL string `json:"endpoint_url"`
	} `json:"delivery"`
	Description string `json:"description"`
	// MinVerificationInterval is the least number of seconds the
	// transmitter wants between two verification requests (SSF 1.0 §8.1.1).
	MinVerificationInterval int `json:"min_verification_interval"`
}

// events is the guard's side of its event stream. The times are Unix
// nanoseconds in atomics, so that Healthy costs no lock on the request path.
type events struct {
	lastPollOK   atomic.Int64 // a poll answered 200
	pollInFlight atomic.Bool
	lastStatusOK atomic.Int64 // the status endpoint said "enabled"
	lastEventOK  atomic.Int64 // push: a verified SET of this stream arrived
	noStatus     atomic.Bool  // the transmitter has no status endpoint
	push         atomic.Bool
	trusted      atomic.Bool // Healthy's last answer, to flush on recovery
	recover      sync.Mutex

	mu       sync.RWMutex
	streamID string
	aud      []string
	pushAuth string // the Authorization header the transmitter pushes with

	minVerify atomic.Int64 // the stream's min_verification_interval, nanoseconds

	keysMu      sync.Mutex // guards keys and keysFetched, never held across I/O
	keys        *keySet
	keysFetched time.Time
	fetchMu     sync.Mutex // one jwks_uri fetch at a time

	tsMu sync.Mutex
	ts   oauth2.TokenSource
}

// errStreamGone means the transmitter no longer knows the stream (deleted
// on the dashboard): it must be created again.
var errStreamGone = errors.New("guard: the event stream is gone")

// Healthy reports whether the cache may be trusted: the event stream is
// known to be live (see the package doc for the rule). On the change from
// not live to live it flushes the cache, since events may have been missed
// meanwhile.
func (g *Guard) Healthy() bool {
	e := &g.ev
	ok := g.live(g.now().UnixNano())
	if !ok {
		if e.trusted.Load() {
			// Decided again under the lock, on fresh readings: a caller
			// that read the clock before a recovery was recorded must not
			// undo the recovery after it was announced.
			e.recover.Lock()
			if e.trusted.Load() && !g.live(g.now().UnixNano()) {
				e.trusted.Store(false)
				g.log.Warn("guard: event stream not live; introspecting every request")
			}
			e.recover.Unlock()
		}
		return false
	}
	if !e.trusted.Load() {
		// Flush before anyone is told to trust the cache.
		e.recover.Lock()
		if !e.trusted.Load() {
			g.cache.flush()
			e.trusted.Store(true)
			g.log.Info("guard: event stream live; caching introspection answers")
		}
		e.recover.Unlock()
	}
	return true
}

// live applies the package doc's rule at now (Unix nanoseconds).
func (g *Guard) live(now int64) bool {
	bound := g.cfg.StaleAfter.Nanoseconds()
	e := &g.ev
	if !e.noStatus.Load() && now-e.lastStatusOK.Load() >= bound {
		return false
	}
	if e.push.Load() {
		return now-e.lastEventOK.Load() < bound
	}
	return e.pollInFlight.Load() || now-e.lastPollOK.Load() < bound
}

// Run subscribes to revocation events and delivers them to the cache until
// ctx ends; then it deletes its stream. Failures are retried with backoff;
// while they last, Healthy is false and every request is introspected.
func (g *Guard) Run(ctx context.Context) error {
	const first = 200 * time.Millisecond
	backoff := first
	for ctx.Err() == nil {
		began := g.now()
		err := g.subscribe(ctx)
		if ctx.Err() != nil {
			break
		}
		g.log.Warn("guard: event stream failed", "error", err)
		if g.now().Sub(began) > g.cfg.StaleAfter {
			backoff = first // it worked for a while: this is a new failure
		}
		if !sleep(ctx, backoff) {
			break
		}
		backoff = min(backoff*2, max(g.cfg.StaleAfter/3, time.Second))
	}
	g.ev.mu.RLock()
	id := g.ev.streamID
	g.ev.mu.RUnlock()
	if meta := g.meta.Load(); id != "" && meta != nil {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_, _ = g.ssf(c, http.MethodDelete, meta.SSF.ConfigurationEndpoint+"?stream_id="+url.QueryEscape(id), nil, nil)
	}
	return ctx.Err()
}

// subscribe creates this guard's stream and keeps it flowing until an
// error or ctx ends.
func (g *Guard) subscribe(ctx context.Context) error {
	meta, err := g.discover(ctx)
	if err != nil {
		return err
	}
	if _, err := g.refreshKeys(ctx, true); err != nil {
		return err
	}
	cfg, err := g.createStream(ctx, meta)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	loop := func(f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cancel(f(sctx))
		}()
	}
	if meta.SSF.StatusEndpoint != "" {
		loop(g.statusLoop)
	}
	if g.cfg.PushURL != "" {
		loop(g.verifyLoop)
	} else {
		loop(func(ctx context.Context) error { return g.pollLoop(ctx, cfg.Delivery.EndpointURL) })
	}
	<-sctx.Done()
	wg.Wait()
	return context.Cause(sctx)
}

// createStream deletes this guard's streams left over from an earlier
// run (same description: a crash left them), then creates a new one (SSF
// 1.0 §8.1.1.1). A new stream starts with nothing held for it, which suits
// a cache that starts empty.
func (g *Guard) createStream(ctx context.Context, meta *metadata) (*streamConfig, error) {
	var raw json.RawMessage
	if _, err := g.ssf(ctx, http.MethodGet, meta.SSF.ConfigurationEndpoint, nil, &raw); err != nil {
		return nil, err
	}
	var list []streamConfig
	if err := json.Unmarshal(raw, &list); err != nil {
		var one streamConfig
		if json.Unmarshal(raw, &one) == nil && one.StreamID != "" {
			list = []streamConfig{one}
		}
	}
	for _, s := range list {
		if s.Description == g.cfg.StreamDescription {
			if _, err := g.ssf(ctx, http.MethodDelete, meta.SSF.ConfigurationEndpoint+"?stream_id="+url.QueryEscape(s.StreamID), nil, nil); err != nil && !errors.Is(err, errStreamGone) {
				return nil, err
			}
		}
	}
	delivery := map[string]string{"method": MethodPoll}
	pushAuth := ""
	if g.cfg.PushURL != "" {
		pushAuth = "Bearer " + randomString()
		delivery = map[string]string{"method": MethodPush, "endpoint_url": g.cfg.PushURL, "authorization_header": pushAuth}
	}
	method := delivery["method"]
	if len(meta.SSF.DeliveryMethodsSupported) > 0 && !slices.Contains(meta.SSF.DeliveryMethodsSupported, method) {
		return nil, fmt.Errorf("guard: the transmitter does not support delivery %s", method)
	}
	body := map[string]any{"delivery": delivery, "events_requested": []string{EventSessionRevoked}, "description": g.cfg.StreamDescription}
	var cfg streamConfig
	if _, err := g.ssf(ctx, http.MethodPost, meta.SSF.ConfigurationEndpoint, body, &cfg); err != nil {
		return nil, err
	}
	switch {
	case cfg.StreamID == "":
		return nil, errors.New("guard: the created stream has no stream_id")
	case len(cfg.EventsDelivered) > 0 && !slices.Contains(cfg.EventsDelivered, EventSessionRevoked):
		return nil, errors.New("guard: the transmitter does not deliver session-revoked events")
	case method == MethodPoll && cfg.Delivery.EndpointURL == "":
		return nil, errors.New("guard: the poll stream has no endpoint_url")
	}
	aud := audiences(cfg.Aud)
	if len(aud) == 0 {
		aud = []string{g.cfg.ClientID}
	}
	e := &g.ev
	e.mu.Lock()
	e.streamID, e.aud, e.pushAuth = cfg.StreamID, aud, pushAuth
	e.mu.Unlock()
	e.push.Store(method == MethodPush)
	e.minVerify.Store(int64(max(cfg.MinVerificationInterval, 0)) * int64(time.Second))
	e.noStatus.Store(meta.SSF.StatusEndpoint == "")
	e.lastPollOK.Store(0)
	e.lastStatusOK.Store(0)
	e.lastEventOK.Store(0)
	g.Healthy() // a new stream: not live until proven, and flushed when it is
	g.log.Info("guard: event stream created", "stream_id", cfg.StreamID, "method", method)
	return &cfg, nil
}

// pollRequest and pollResponse are RFC 8936 §2.4 and §2.5.
type pollRequest struct {
	MaxEvents         int               `json:"maxEvents"`
	ReturnImmediately bool              `json:"returnImmediately"`
	Ack               []string          `json:"ack"`
	SetErrs           map[string]setErr `json:"setErrs,omitempty"`
}

type setErr struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

type pollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// pollLoop long-polls the stream (RFC 8936), acknowledging every SET it
// applied in the next request, and reporting the ones it refused in
// setErrs. A SET is applied before it is acknowledged: if the guard dies in
// between, the SET comes again.
func (g *Guard) pollLoop(ctx context.Context, endpoint string) error {
	ack := []string{}
	var errs map[string]setErr
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		var resp pollResponse
		c, cancel := context.WithTimeout(ctx, g.cfg.PollTimeout)
		g.ev.pollInFlight.Store(true)
		_, err := g.ssf(c, http.MethodPost, endpoint, pollRequest{MaxEvents: 100, Ack: ack, SetErrs: errs}, &resp)
		if err == nil {
			// Before the flag drops: a long poll may have outlasted
			// StaleAfter, and in between the stream would look dead.
			g.ev.lastPollOK.Store(g.now().UnixNano())
		}
		g.ev.pollInFlight.Store(false)
		cancel()
		if err != nil {
			if errors.Is(err, errStreamGone) || ctx.Err() != nil {
				return err
			}
			g.log.Warn("guard: poll failed", "error", err)
			if !sleep(ctx, backoff) {
				return ctx.Err()
			}
			backoff = min(backoff*2, max(g.cfg.StaleAfter/3, time.Second))
			continue
		}
		backoff = 100 * time.Millisecond
		g.Healthy() // flush and log on recovery now, not at the next request
		ack, errs = ack[:0], nil
		for jti, set := range resp.Sets {
			if code, err := g.handleSET(ctx, set, jti); err != nil {
				g.log.Warn("guard: SET refused", "jti", jti, "error", err)
				if errs == nil {
					errs = map[string]setErr{}
				}
				errs[jti] = setErr{Err: code, Description: err.Error()}
				continue
			}
			ack = append(ack, jti)
		}
	}
	return ctx.Err()
}

// statusLoop reads the stream's status (SSF 1.0 §8.1.2.1) every third of
// StaleAfter: only "enabled" counts as live.
func (g *Guard) statusLoop(ctx context.Context) error {
	for {
		g.ev.mu.RLock()
		id := g.ev.streamID
		g.ev.mu.RUnlock()
		var st struct {
			Status string `json:"status"`
		}
		c, cancel := context.WithTimeout(ctx, g.cfg.StaleAfter/3+time.Second)
		_, err := g.ssf(c, http.MethodGet, g.meta.Load().SSF.StatusEndpoint+"?stream_id="+url.QueryEscape(id), nil, &st)
		cancel()
		switch {
		case errors.Is(err, errStreamGone):
			return err
		case err != nil:
			if ctx.Err() == nil {
				g.log.Warn("guard: stream status failed", "error", err)
			}
		case st.Status == "enabled":
			g.ev.lastStatusOK.Store(g.now().UnixNano())
		default:
			g.ev.lastStatusOK.Store(0)
			g.log.Warn("guard: the event stream is not enabled", "status", st.Status)
		}
		g.Healthy() // notice a change now, not at the next request
		if !sleep(ctx, g.cfg.StaleAfter/3) {
			return ctx.Err()
		}
	}
}

// verifyLoop asks for a verification event (SSF 1.0 §8.1.4.2) every third
// of StaleAfter: for a push stream, silence is normal, so the guard makes
// the transmitter prove that deliveries reach it. It never asks more often
// than the stream's min_verification_interval (with half a second to
// spare, so that network jitter cannot make two requests arrive closer):
// the transmitter would refuse the request.
func (g *Guard) verifyLoop(ctx context.Context) error {
	every := g.cfg.StaleAfter / 3
	if m := time.Duration(g.ev.minVerify.Load()); m > 0 {
		every = max(every, m+500*time.Millisecond)
		if every >= g.cfg.StaleAfter {
			g.log.Warn("guard: StaleAfter is shorter than the transmitter's verification interval; the push stream will look stale between verifications",
				"stale_after", g.cfg.StaleAfter, "min_verification_interval", m)
		}
	}
	if g.meta.Load().SSF.VerificationEndpoint == "" {
		return errors.New("guard: push needs the transmitter's verification endpoint")
	}
	for {
		g.ev.mu.RLock()
		id := g.ev.streamID
		g.ev.mu.RUnlock()
		c, cancel := context.WithTimeout(ctx, every+time.Second)
		_, err := g.ssf(c, http.MethodPost, g.meta.Load().SSF.VerificationEndpoint, map[string]string{"stream_id": id, "state": randomString()}, nil)
		cancel()
		if errors.Is(err, errStreamGone) {
			return err
		}
		if err != nil && ctx.Err() == nil {
			g.log.Warn("guard: verification request failed", "error", err)
		}
		if !sleep(ctx, every) {
			return ctx.Err()
		}
	}
}

// PushHandler receives pushed SETs (RFC 8935 §2) for a guard configured
// with PushURL: mount it at that URL. It answers 202 for a SET it applied
// and 400 with an RFC 8935 §2.3 error otherwise; requests without the
// Authorization header the guard gave the transmitter get 401.
func (g *Guard) PushHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		g.ev.mu.RLock()
		want := g.ev.pushAuth
		g.ev.mu.RUnlock()
		if want == "" || !constantTimeEqual(r.Header.Get("Authorization"), want) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 64<<10))
		if err != nil {
			pushError(w, "invalid_request", "the body is too large or unreadable")
			return
		}
		if code, err := g.handleSET(r.Context(), string(bytes.TrimSpace(body)), ""); err != nil {
			g.log.Warn("guard: pushed SET refused", "error", err)
			pushError(w, code, err.Error())
			return
		}
		g.ev.lastEventOK.Store(g.now().UnixNano())
		g.Healthy()
		w.WriteHeader(http.StatusAccepted)
	})
}

func pushError(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(setErr{Err: code, Description: desc})
}

// ssf sends one request to the transmitter with the guard's bearer token
// (client_credentials, SSF 1.0 §9) and decodes a JSON answer into out. A
// 404 means the stream is gone. A 401 drops the access token, so the next
// call gets a new one.
func (g *Guard) ssf(ctx context.Context, method, endpoint string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, endpoint, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	tok, err := g.tokenSource().Token()
	if err != nil {
		return 0, fmt.Errorf("guard: access token for the event stream: %w", err)
	}
	tok.SetAuthHeader(req)
	resp, err := g.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return resp.StatusCode, errStreamGone
	case resp.StatusCode == http.StatusUnauthorized:
		g.resetToken()
		return resp.StatusCode, fmt.Errorf("guard: %s %s: %s", method, endpoint, resp.Status)
	case resp.StatusCode/100 != 2:
		return resp.StatusCode, fmt.Errorf("guard: %s %s: %s", method, endpoint, resp.Status)
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("guard: %s %s: %w", method, endpoint, err)
		}
	}
	return resp.StatusCode, nil
}

// tokenSource returns the source of the guard's bearer access token for
// the SSF endpoints: client_credentials at the token endpoint, reused
// until it expires.
func (g *Guard) tokenSource() oauth2.TokenSource {
	g.ev.tsMu.Lock()
	defer g.ev.tsMu.Unlock()
	if g.ev.ts == nil {
		cc := clientcredentials.Config{ClientID: g.cfg.ClientID, ClientSecret: g.cfg.ClientSecret,
			TokenURL: g.meta.Load().TokenEndpoint, AuthStyle: oauth2.AuthStyleInHeader}
		g.ev.ts = cc.TokenSource(context.WithValue(context.Background(), oauth2.HTTPClient, g.hc))
	}
	return g.ev.ts
}

// resetToken forgets the access token (revoked, or the server restarted
// with another database), so the next call gets a new one.
func (g *Guard) resetToken() {
	g.ev.tsMu.Lock()
	g.ev.ts = nil
	g.ev.tsMu.Unlock()
}

// audiences reads a JWT-style aud: a string or an array of strings.
func audiences(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == "" {
			return nil
		}
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
