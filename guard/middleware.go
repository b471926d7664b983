package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

type infoKey struct{}

// InfoFrom returns what the Middleware learned about the request's token.
func InfoFrom(ctx context.Context) (Info, bool) {
	info, ok := ctx.Value(infoKey{}).(Info)
	return info, ok
}

// Middleware lets a request through to next only if it carries an active
// bearer token (RFC 6750 §2.1: the Authorization header); next finds the
// token's Info with InfoFrom. Refusals follow RFC 6750 §3:
//   - no Authorization header, or one of another scheme (Basic): 401 with
//     a bare Bearer challenge (§3.1: no error code when the request "lacks
//     any authentication information (e.g., … attempted using an
//     unsupported authentication method)");
//   - not a single Bearer credential (two headers, no token): 400
//     invalid_request;
//   - an inactive token: 401 invalid_token;
//   - Latchkey unreachable and no trusted cached answer: 503 with
//     Retry-After — the guard fails closed.
func (g *Guard) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Values("Authorization")
		if len(authz) == 0 {
			g.refuse(w, http.StatusUnauthorized, "", "a bearer token is required")
			return
		}
		scheme, tok, ok := strings.Cut(strings.TrimSpace(authz[0]), " ")
		tok = strings.TrimSpace(tok)
		if len(authz) == 1 && !strings.EqualFold(scheme, "Bearer") {
			g.refuse(w, http.StatusUnauthorized, "", "a bearer token is required")
			return
		}
		if len(authz) > 1 || !ok || tok == "" {
			g.refuse(w, http.StatusBadRequest, "invalid_request", "send the token as Authorization: Bearer <token>")
			return
		}
		info, err := g.Check(r.Context(), tok)
		switch {
		case errors.Is(err, ErrInvalidToken):
			g.refuse(w, http.StatusUnauthorized, "invalid_token", "the access token is invalid, expired or revoked")
			return
		case err != nil:
			w.Header().Set("Retry-After", "5")
			g.refuse(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the authorization server cannot be reached")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), infoKey{}, info)))
	})
}

// refuse writes an RFC 6750 §3 challenge and a JSON body saying the same.
func (g *Guard) refuse(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	challenge := fmt.Sprintf("Bearer realm=%q", g.cfg.Realm)
	if code != "" && status != http.StatusServiceUnavailable {
		challenge += fmt.Sprintf(", error=%q, error_description=%q", code, desc)
	}
	if status != http.StatusServiceUnavailable {
		h.Set("WWW-Authenticate", challenge)
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]string{"error_description": desc}
	if code != "" {
		body["error"] = code
	}
	_ = json.NewEncoder(w).Encode(body)
}

// Identity headers that SetIdentityHeaders writes for an upstream.
const (
	HeaderUser   = "X-Latchkey-User"
	HeaderClient = "X-Latchkey-Client"
	HeaderScope  = "X-Latchkey-Scope"
)

// SetIdentityHeaders removes every X-Latchkey-* header from h — in any
// case, and with underscores for dashes too, since CGI-style upstreams
// (WSGI, Rack, PHP) read X_Latchkey_User as X-Latchkey-User — and then sets
// the user, client and scope of info. An empty value (the user of a
// client_credentials token) is left out rather than sent empty.
func SetIdentityHeaders(h http.Header, info Info) {
	StripIdentityHeaders(h)
	for name, v := range map[string]string{HeaderUser: info.Username, HeaderClient: info.ClientID, HeaderScope: info.Scope} {
		if v != "" {
			h.Set(name, v)
		}
	}
}

// StripIdentityHeaders removes every header a client could use to pass
// itself off as identified by the guard.
func StripIdentityHeaders(h http.Header) {
	for name := range h {
		if strings.HasPrefix(strings.ToLower(strings.ReplaceAll(name, "_", "-")), "x-latchkey-") {
			delete(h, name)
		}
	}
}
