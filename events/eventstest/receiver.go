// Package eventstest is an SSF receiver for tests, written independently
// from the transmitter: it verifies every SET with a second JOSE
// implementation (github.com/lestrrat-go/jwx/v3) using the keys it fetches
// from the jwks_uri of the transmitter's SSF configuration, and checks typ,
// iss, aud, jti uniqueness and the subject. It shares no code with package
// events on purpose: a bug in how events builds or signs a SET must not be
// hidden by the same bug here.
package eventstest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Event type URIs, spelled out here rather than imported.
const (
	SessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	Verification   = "https://schemas.openid.net/secevent/ssf/event-type/verification"
)

// Ident is one subject identifier.
type Ident struct {
	Format string `json:"format"`
	ID     string `json:"id"`
	Iss    string `json:"iss"`
	Sub    string `json:"sub"`
}

// Subject is a SET's sub_id.
type Subject struct {
	Format      string `json:"format"`
	ID          string `json:"id"`
	Session     *Ident `json:"session"`
	User        *Ident `json:"user"`
	Application *Ident `json:"application"`
}

// SET is a verified Security Event Token.
type SET struct {
	Raw   string
	Kid   string
	Jti   string
	Iss   string
	Aud   []string
	Iat   time.Time
	SubID Subject
	Type  string         // the one event type
	Event map[string]any // its body
	// At is when the receiver accepted it.
	At time.Time
}

// Session is the sid the subject names, or "".
func (s SET) Session() string {
	if s.SubID.Session == nil {
		return ""
	}
	return s.SubID.Session.ID
}

// User is the user's sub the subject names, or "".
func (s SET) User() string {
	if s.SubID.User == nil {
		return ""
	}
	return s.SubID.User.Sub
}

// Client is the client_id the subject names, or "".
func (s SET) Client() string {
	if s.SubID.Application == nil {
		return ""
	}
	return s.SubID.Application.ID
}

// Initiator is the event's initiating_entity.
func (s SET) Initiator() string { v, _ := s.Event["initiating_entity"].(string); return v }

// Reason is the event's reason_admin in English.
func (s SET) Reason() string {
	m, _ := s.Event["reason_admin"].(map[string]any)
	v, _ := m["en"].(string)
	return v
}

// Verifier checks SETs from one transmitter for one audience.
type Verifier struct {
	Issuer   string
	Audience string
	Client   *http.Client

	mu   sync.Mutex
	keys jwk.Set
}

// NewVerifier returns a verifier for SETs issued by issuer to audience.
func NewVerifier(issuer, audience string) *Verifier {
	return &Verifier{Issuer: issuer, Audience: audience, Client: &http.Client{Timeout: 5 * time.Second}}
}

// keySet returns the JWK Set from the jwks_uri of the issuer's SSF
// configuration, fetched anew when refresh is set or none is held.
func (v *Verifier) keySet(ctx context.Context, refresh bool) (jwk.Set, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.keys != nil && !refresh {
		return v.keys, nil
	}
	req, err := http.NewRequestWithContext(ctx, "GET", v.Issuer+"/.well-known/ssf-configuration", nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch SSF configuration: %w", err)
	}
	defer resp.Body.Close()
	var cfg struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&cfg) != nil || cfg.JWKSURI == "" {
		return nil, fmt.Errorf("SSF configuration: status %d, no jwks_uri", resp.StatusCode)
	}
	if cfg.Issuer != v.Issuer {
		return nil, fmt.Errorf("SSF configuration issuer %q, want %q", cfg.Issuer, v.Issuer)
	}
	set, err := jwk.Fetch(ctx, cfg.JWKSURI, jwk.WithHTTPClient(v.Client))
	if err != nil {
		return nil, fmt.Errorf("fetch JWKS: %w", err)
	}
	v.keys = set
	return set, nil
}

// Verify checks raw and returns its content: a compact JWS with exactly
// one signature, header typ secevent+jwt, alg ES256 and a kid found in
// the published JWK Set (fetched again once for an unknown kid, as after a
// key rotation); the signature; iss and aud; a jti, an iat and exactly one
// event; and a subject of the right shape for the event type.
func (v *Verifier) Verify(ctx context.Context, raw string) (SET, error) {
	var out SET
	msg, err := jws.ParseString(raw)
	if err != nil {
		return out, fmt.Errorf("not a JWS: %w", err)
	}
	if n := len(msg.Signatures()); n != 1 {
		return out, fmt.Errorf("%d signatures, want 1", n)
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if typ, _ := h.Type(); typ != "secevent+jwt" {
		return out, fmt.Errorf("typ %q, want secevent+jwt", typ)
	}
	if alg, _ := h.Algorithm(); alg.String() != "ES256" {
		return out, fmt.Errorf("alg %q, want ES256", alg.String())
	}
	kid, _ := h.KeyID()
	if kid == "" {
		return out, errors.New("no kid")
	}
	out.Raw, out.Kid = raw, kid
	keys, err := v.keySet(ctx, false)
	if err != nil {
		return out, err
	}
	if _, ok := keys.LookupKeyID(kid); !ok {
		if keys, err = v.keySet(ctx, true); err != nil {
			return out, err
		}
	}
	payload, err := jws.Verify([]byte(raw), jws.WithKeySet(keys))
	if err != nil {
		return out, fmt.Errorf("signature: %w", err)
	}
	if _, err := jwt.Parse([]byte(raw), jwt.WithKeySet(keys), jwt.WithValidate(true),
		jwt.WithIssuer(v.Issuer), jwt.WithAudience(v.Audience)); err != nil {
		return out, fmt.Errorf("claims: %w", err)
	}
	var c struct {
		Iss    string                     `json:"iss"`
		Aud    json.RawMessage            `json:"aud"`
		Iat    int64                      `json:"iat"`
		Jti    string                     `json:"jti"`
		Sub    *string                    `json:"sub"`
		SubID  *Subject                   `json:"sub_id"`
		Events map[string]json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return out, fmt.Errorf("payload: %w", err)
	}
	var aud []string
	if json.Unmarshal(c.Aud, &aud) != nil {
		var one string
		if json.Unmarshal(c.Aud, &one) != nil {
			return out, errors.New("aud is neither a string nor an array")
		}
		aud = []string{one}
	}
	switch {
	case c.Iss != v.Issuer:
		return out, fmt.Errorf("iss %q, want %q", c.Iss, v.Issuer)
	case !slices.Contains(aud, v.Audience):
		return out, fmt.Errorf("aud %v, want %q", aud, v.Audience)
	case c.Jti == "":
		return out, errors.New("no jti")
	case c.Iat == 0:
		return out, errors.New("no iat")
	case c.Sub != nil:
		return out, errors.New("a SET names its subject in sub_id, not sub (SSF 1.0 §3.2)")
	case c.SubID == nil:
		return out, errors.New("no sub_id")
	case len(c.Events) != 1:
		return out, fmt.Errorf("%d events, want 1", len(c.Events))
	}
	out.Jti, out.Iss, out.Aud, out.Iat, out.SubID = c.Jti, c.Iss, aud, time.Unix(c.Iat, 0), *c.SubID
	for typ, body := range c.Events {
		out.Type = typ
		if err := json.Unmarshal(body, &out.Event); err != nil {
			return out, fmt.Errorf("event body: %w", err)
		}
	}
	return out, checkSubject(out, v.Issuer)
}

// checkSubject checks sub_id against the event type: a session-revoked
// names at least one of session, user and application in a complex
// subject, each in its format; a verification names the stream.
func checkSubject(s SET, issuer string) error {
	sub := s.SubID
	switch s.Type {
	case SessionRevoked:
		if sub.Format != "complex" {
			return fmt.Errorf("session-revoked sub_id format %q, want complex", sub.Format)
		}
		if sub.Session == nil && sub.User == nil && sub.Application == nil {
			return errors.New("session-revoked names no session, user or application")
		}
		if sub.Session != nil && (sub.Session.Format != "opaque" || sub.Session.ID == "") {
			return fmt.Errorf("session %+v, want an opaque id", *sub.Session)
		}
		if sub.User != nil && (sub.User.Format != "iss_sub" || sub.User.Iss != issuer || sub.User.Sub == "") {
			return fmt.Errorf("user %+v, want iss_sub with iss %q", *sub.User, issuer)
		}
		if sub.Application != nil && (sub.Application.Format != "opaque" || sub.Application.ID == "") {
			return fmt.Errorf("application %+v, want an opaque id", *sub.Application)
		}
		ts, ok := s.Event["event_timestamp"].(float64)
		if !ok || ts <= 0 {
			return errors.New("session-revoked has no event_timestamp")
		}
		switch s.Initiator() {
		case "admin", "user", "policy", "system":
		default:
			return fmt.Errorf("initiating_entity %q", s.Initiator())
		}
	case Verification:
		if sub.Format != "opaque" || sub.ID == "" {
			return fmt.Errorf("verification sub_id %+v, want the stream as an opaque id", sub)
		}
	default:
		return fmt.Errorf("unexpected event type %q", s.Type)
	}
	return nil
}

// Receiver is an RFC 8935 push endpoint. It verifies every SET it is sent
// and answers 202, or 400 with RFC 8935 §2.3's error JSON; SetStatus makes
// it answer something else instead (without accepting), and Stop/Start
// take it off the network and back on the same address.
type Receiver struct {
	*Verifier
	// Authorization is the Authorization header every push must carry;
	// empty: any.
	Authorization string

	t      testing.TB
	addr   string
	mu     sync.Mutex
	srv    *http.Server
	status int
	got    []SET
	seen   map[string]int
	errs   []error
	tries  []time.Time
	wake   chan struct{}
}

// NewReceiver starts a receiver on 127.0.0.1 for SETs from issuer. The
// audience is set once the stream exists (SetAudience). At the end of the
// test it fails t if any SET failed verification or came twice.
func NewReceiver(t testing.TB, issuer string) *Receiver {
	r := &Receiver{Verifier: NewVerifier(issuer, ""), t: t, seen: map[string]int{}, wake: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	r.serve(ln)
	t.Cleanup(func() {
		r.Stop()
		for _, err := range r.Errors() {
			t.Errorf("receiver: %v", err)
		}
	})
	return r
}

// URL is the push endpoint.
func (r *Receiver) URL() string { return "http://" + r.addr + "/events" }

// SetAudience sets the aud every SET must carry.
func (r *Receiver) SetAudience(aud string) {
	r.mu.Lock()
	r.Audience = aud
	r.mu.Unlock()
}

// SetStatus makes the receiver answer code to every push without taking
// it; 0 goes back to verifying and answering 202.
func (r *Receiver) SetStatus(code int) {
	r.mu.Lock()
	r.status = code
	r.mu.Unlock()
}

// Stop closes the listener: pushes are refused at the TCP level.
func (r *Receiver) Stop() {
	r.mu.Lock()
	srv := r.srv
	r.srv = nil
	r.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Start listens again on the same address.
func (r *Receiver) Start() {
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment after Close
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("receiver: listen again on %s: %v", r.addr, err)
	}
	r.serve(ln)
}

func (r *Receiver) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 5 * time.Second}
	r.mu.Lock()
	r.srv = srv
	r.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.tries = append(r.tries, time.Now())
	status, want := r.status, r.Authorization
	r.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	fail := func(code, desc string, err error) {
		r.mu.Lock()
		r.errs = append(r.errs, err)
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"err": code, "description": desc})
	}
	if req.Method != http.MethodPost {
		fail("invalid_request", "POST only", fmt.Errorf("method %s", req.Method))
		return
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/secevent+jwt" {
		fail("invalid_request", "content type", fmt.Errorf("Content-Type %q, want application/secevent+jwt", ct))
		return
	}
	if want != "" && req.Header.Get("Authorization") != want {
		fail("authentication_failed", "bad authorization", errors.New("push without the stream's Authorization header"))
		return
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<16))
	if err != nil {
		fail("invalid_request", "read", err)
		return
	}
	r.mu.Lock()
	aud := r.Audience
	r.mu.Unlock()
	v := &Verifier{Issuer: r.Issuer, Audience: aud, Client: r.Client}
	r.Verifier.mu.Lock()
	v.keys = r.keys
	r.Verifier.mu.Unlock()
	set, err := v.Verify(req.Context(), strings.TrimSpace(string(body)))
	if v.keys != nil {
		r.Verifier.mu.Lock()
		r.keys = v.keys
		r.Verifier.mu.Unlock()
	}
	if err != nil {
		fail("invalid_request", "verification failed", err)
		return
	}
	set.At = time.Now()
	r.mu.Lock()
	r.seen[set.Jti]++
	if r.seen[set.Jti] > 1 {
		r.errs = append(r.errs, fmt.Errorf("jti %s delivered %d times", set.Jti, r.seen[set.Jti]))
	}
	r.got = append(r.got, set)
	close(r.wake)
	r.wake = make(chan struct{})
	r.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}

// Received returns the SETs accepted so far, in arrival order.
func (r *Receiver) Received() []SET {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// Tries returns when each push reached the receiver, accepted or not.
func (r *Receiver) Tries() []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.tries)
}

// Errors returns the verification failures and duplicates seen.
func (r *Receiver) Errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// Wait returns the SETs received once pred holds for them, or fails t
// after timeout.
func (r *Receiver) Wait(t testing.TB, timeout time.Duration, what string, pred func([]SET) bool) []SET {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		got, wake := slices.Clone(r.got), r.wake
		r.mu.Unlock()
		if pred(got) {
			return got
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatalf("receiver: %s: not received within %v; got %d SETs: %s; errors: %v", what, timeout, len(got), Describe(got), r.Errors())
			return nil
		}
	}
}

// WaitSession waits for a session-revoked SET naming sid.
func (r *Receiver) WaitSession(t testing.TB, timeout time.Duration, sid string) SET {
	t.Helper()
	got := r.Wait(t, timeout, "session-revoked for sid "+sid, func(s []SET) bool {
		return slices.ContainsFunc(s, func(x SET) bool { return x.Type == SessionRevoked && x.Session() == sid })
	})
	i := slices.IndexFunc(got, func(x SET) bool { return x.Type == SessionRevoked && x.Session() == sid })
	return got[i]
}

// Describe lists SETs briefly, for failure messages.
func Describe(sets []SET) string {
	var b strings.Builder
	for i, s := range sets {
		if i > 0 {
			b.WriteString(", ")
		}
		name := s.Type[strings.LastIndex(s.Type, "/")+1:]
		fmt.Fprintf(&b, "%s(sid=%q user=%q client=%q by=%s)", name, s.Session(), s.User(), s.Client(), s.Initiator())
	}
	return b.String()
}
