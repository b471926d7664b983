package guard

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// minKeysRefresh rate-limits fetching the JWK Set when a SET names a kid
// the guard does not know (a key rotation): a flood of SETs with made-up
// kids cannot make it hammer jwks_uri.
const minKeysRefresh = 5 * time.Second

// keySet is the transmitter's JWK Set.
type keySet struct {
	set jwk.Set
}

// refreshKeys fetches jwks_uri unless it was fetched less than
// minKeysRefresh ago (force ignores that: at subscription).
func (g *Guard) refreshKeys(ctx context.Context, force bool) (*keySet, error) {
	e := &g.ev
	e.fetchMu.Lock() // one fetch at a time; readers of the current set do not wait for it
	defer e.fetchMu.Unlock()
	e.keysMu.Lock()
	ks, fetched := e.keys, e.keysFetched
	e.keysMu.Unlock()
	if !force && ks != nil && g.now().Sub(fetched) < minKeysRefresh {
		return ks, nil
	}
	meta, err := g.discover(ctx)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := g.getJSON(ctx, g.hc, meta.SSF.JWKSURI, &raw); err != nil {
		return nil, err
	}
	set, err := jwk.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("guard: jwks_uri: %w", err)
	}
	ks = &keySet{set: set}
	e.keysMu.Lock()
	e.keys, e.keysFetched = ks, g.now()
	e.keysMu.Unlock()
	return ks, nil
}

// key returns the public key kid names, refreshing the JWK Set once if the
// kid is unknown.
func (g *Guard) key(ctx context.Context, kid string) (jwk.Key, error) {
	g.ev.keysMu.Lock()
	ks := g.ev.keys
	g.ev.keysMu.Unlock()
	if ks != nil {
		if k, ok := ks.set.LookupKeyID(kid); ok {
			return k, nil
		}
	}
	ks, err := g.refreshKeys(ctx, false)
	if err != nil {
		return nil, err
	}
	if k, ok := ks.set.LookupKeyID(kid); ok {
		return k, nil
	}
	return nil, fmt.Errorf("guard: no key %q at jwks_uri", kid)
}

// asymmetric is what a SET may be signed with: a transmitter's public key,
// never a shared secret or "none".
var asymmetric = []jwa.SignatureAlgorithm{jwa.ES256(), jwa.ES384(), jwa.ES512(), jwa.RS256(), jwa.RS384(), jwa.RS512(), jwa.PS256(), jwa.PS384(), jwa.PS512(), jwa.EdDSA()}

// setClaims are RFC 8417 §2.2's claims plus SSF 1.0's sub_id.
type setClaims struct {
	Iss    string                     `json:"iss"`
	Aud    json.RawMessage            `json:"aud"`
	Iat    int64                      `json:"iat"`
	Jti    string                     `json:"jti"`
	SubID  *subject                   `json:"sub_id"`
	Events map[string]json.RawMessage `json:"events"`
}

// subject is an SSF 1.0 subject identifier: simple (opaque, iss_sub, …) or
// complex, whose members are themselves simple.
type subject struct {
	Format      string   `json:"format"`
	ID          string   `json:"id"`
	Iss         string   `json:"iss"`
	Sub         string   `json:"sub"`
	Session     *subject `json:"session"`
	User        *subject `json:"user"`
	Application *subject `json:"application"`
}

// handleSET verifies one SET and applies it. On failure it returns an RFC
// 8935 §2.3 error code for the transmitter. jti, if given (poll: the key
// the SET came under), must match the SET's own.
func (g *Guard) handleSET(ctx context.Context, raw, jti string) (string, error) {
	claims, code, err := g.verifySET(ctx, raw)
	if err == nil && jti != "" && claims.Jti != jti {
		code, err = "invalid_request", errors.New("jti does not match the key it was delivered under")
	}
	if err != nil {
		// What it said cannot be known; what it might have revoked
		// must not stay cached.
		g.cache.flush()
		return code, err
	}
	for typ, body := range claims.Events {
		if typ == EventVerification {
			g.log.Info("guard: verification event", "jti", claims.Jti)
		}
		if typ != EventSessionRevoked {
			continue // nothing to drop
		}
		sub := claims.SubID
		if sub == nil {
			// CAEP drafts before SSF 1.0 put the subject in the event.
			var legacy struct {
				Subject *subject `json:"subject"`
			}
			_ = json.Unmarshal(body, &legacy)
			sub = legacy.Subject
		}
		n := g.cache.drop(g.matcher(sub))
		g.log.Info("guard: session revoked", "jti", claims.Jti, "dropped", n)
	}
	return "", nil
}

// verifySET checks a SET's signature with the transmitter's key (RFC 7515,
// via jwx), its typ (RFC 8417 §2.3), iss and aud (§2.2), and that it
// carries events.
func (g *Guard) verifySET(ctx context.Context, raw string) (*setClaims, string, error) {
	msg, err := jws.Parse([]byte(raw), jws.WithCompact())
	if err != nil {
		return nil, "invalid_request", fmt.Errorf("not a compact JWS: %w", err)
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return nil, "invalid_request", errors.New("want exactly one signature")
	}
	hdr := sigs[0].ProtectedHeaders()
	typ, _ := hdr.Type()
	if t := strings.ToLower(typ); t != "secevent+jwt" && t != "application/secevent+jwt" {
		return nil, "invalid_request", fmt.Errorf("typ %q, want secevent+jwt", typ)
	}
	alg, ok := hdr.Algorithm()
	if !ok || !slices.Contains(asymmetric, alg) {
		return nil, "invalid_request", fmt.Errorf("alg %v is not an asymmetric signature", alg)
	}
	kid, _ := hdr.KeyID()
	key, err := g.key(ctx, kid)
	if err != nil {
		return nil, "invalid_key", err
	}
	if ka, ok := key.Algorithm(); ok && ka.String() != alg.String() {
		return nil, "invalid_key", fmt.Errorf("key %q is for %s, not %s", kid, ka, alg)
	}
	payload, err := jws.Verify([]byte(raw), jws.WithKey(alg, key))
	if err != nil {
		return nil, "invalid_key", fmt.Errorf("signature: %w", err)
	}
	var c setClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, "invalid_request", fmt.Errorf("claims: %w", err)
	}
	g.ev.mu.RLock()
	want := g.ev.aud
	g.ev.mu.RUnlock()
	switch {
	case strings.TrimRight(c.Iss, "/") != g.cfg.Issuer:
		return nil, "invalid_issuer", fmt.Errorf("iss %q, want %q", c.Iss, g.cfg.Issuer)
	case !slices.ContainsFunc(audiences(c.Aud), func(a string) bool { return slices.Contains(want, a) }):
		return nil, "invalid_audience", fmt.Errorf("aud %s is not this stream's", c.Aud)
	case c.Jti == "" || c.Iat == 0 || len(c.Events) == 0:
		return nil, "invalid_request", errors.New("jti, iat and events are required")
	}
	return &c, "", nil
}

// matcher returns which cached answers a session-revoked subject names.
// In a complex subject every member the guard understands must match (SSF
// 1.0 §3.3); members it does not understand are ignored, which can only
// drop more. A subject it cannot read at all drops everything.
func (g *Guard) matcher(s *subject) func(Info) bool {
	all := func(Info) bool { return true }
	if s == nil {
		return all
	}
	var conds []func(Info) bool
	user := func(u *subject) func(Info) bool {
		switch {
		case u.Format == "iss_sub" && strings.TrimRight(u.Iss, "/") == g.cfg.Issuer:
			return func(i Info) bool { return i.Subject == u.Sub }
		case u.Format == "iss_sub":
			return func(Info) bool { return false } // another issuer's user
		case u.Format == "opaque":
			return func(i Info) bool { return i.Subject == u.ID }
		}
		return nil
	}
	switch s.Format {
	case "complex":
		if s.Session != nil && s.Session.ID != "" {
			conds = append(conds, func(i Info) bool { return i.SessionID == s.Session.ID })
		}
		if s.User != nil {
			if c := user(s.User); c != nil {
				conds = append(conds, c)
			}
		}
		if s.Application != nil && s.Application.ID != "" {
			conds = append(conds, func(i Info) bool { return i.ClientID == s.Application.ID })
		}
	case "iss_sub":
		conds = append(conds, user(s))
	case "opaque":
		// Which kind of identifier it is is not said: drop whatever it
		// could name.
		return func(i Info) bool { return i.SessionID == s.ID || i.ClientID == s.ID || i.Subject == s.ID }
	}
	if len(conds) == 0 {
		return all
	}
	return func(i Info) bool {
		for _, c := range conds {
			if !c(i) {
				return false
			}
		}
		return true
	}
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
