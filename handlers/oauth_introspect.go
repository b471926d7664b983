package handlers

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
)

// introspection is RFC 7662 §2.2's response. Inactive tokens answer only
// {"active": false}.
type introspection struct {
	Active    bool   `json:"active"`
	TokenType string `json:"token_type,omitempty"`
	Scope     string `json:"scope,omitempty"`
	ClientID  string `json:"client_id,omitempty"`
	Username  string `json:"username,omitempty"`
	Sub       string `json:"sub,omitempty"`
	Exp       int64  `json:"exp,omitempty"`
	Iat       int64  `json:"iat,omitempty"`
	Iss       string `json:"iss,omitempty"`
	// Sid is the grant's public id, the session that revocation events
	// name, so a resource server can match an event to what it cached.
	Sid string `json:"sid,omitempty"`
}

// IntrospectToken is RFC 7662, POST /o/introspect/. The caller
// authenticates as a client, or with a bearer access token of a resource
// server (see authenticateIntrospector). A client created with
// --introspect (a resource server) may introspect any access token; any
// other client only its own — another client's token is reported inactive,
// so a client cannot probe tokens it does not hold.
//
// A refresh token is active only to the client it was issued to. Resource
// servers that ignore token_type, as django-oauth-toolkit does, would
// otherwise accept a refresh token as a bearer token, and cache that
// answer until the refresh token's exp, 30 days away.
func (h *Handler) IntrospectToken(c echo.Context) error {
	form, err := parseOAuthForm(c)
	if err != nil {
		return err
	}
	client, callerGrant, err := h.authenticateIntrospector(c, form)
	if err != nil {
		return err
	}
	if client.IsPublic() {
		// RFC 7662 §2.1: the caller must be authorized; a public client's
		// identifier is no credential.
		return ErrInvalidClient.WithDescription("public clients cannot use introspection")
	}
	if callerGrant != 0 {
		h.store.TouchGrant(callerGrant, seen(c)) // the resource server, with its own token
	}
	tok := form.Get("token")
	if tok == "" {
		return ErrInvalidRequest.WithDescription("token is required")
	}
	info, err := h.store.ActiveToken(c.Request().Context(), tok)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return writeJSON(c, 200, introspection{Active: false})
	case err != nil:
		return ErrTemporarilyUnavailable.Wrap(err)
	}
	own := info.Token.ClientID == client.ID
	if !own && (!client.Introspect || info.Token.Type == models.TokenTypeRefresh) {
		return writeJSON(c, 200, introspection{Active: false})
	}
	// A use, but not a sighting: the caller is the resource server, not
	// the token's holder, so its address says nothing about the grant.
	h.store.TouchGrant(info.Token.GrantID, models.Seen{})
	out := introspection{
		Active: true, TokenType: tokenTypeName(info.Token.Type), Scope: info.Token.Scope, ClientID: info.ClientID,
		Username: info.Username, Exp: info.Token.ExpiresAt.Unix(), Iat: info.Token.CreatedAt.Unix(), Iss: h.cfg.Issuer,
		Sid: info.GrantPublicID,
	}
	out.Sub = info.Username
	if out.Sub == "" {
		out.Sub = info.ClientID // client_credentials: the client is the subject
	}
	return writeJSONBytes(c, 200, out.appendJSON(make([]byte, 0, 384)))
}

// appendJSON appends the answer as encoding/json would write it, without
// reflection: this is the hottest answer Latchkey writes. It falls back to
// encoding/json for a string that is not valid UTF-8, which the stores'
// text never is.
func (in *introspection) appendJSON(b []byte) []byte {
	for _, s := range []string{in.TokenType, in.Scope, in.ClientID, in.Username, in.Sub, in.Iss, in.Sid} {
		if !utf8.ValidString(s) {
			v := *in // a copy, so that in need not live on the heap
			out, _ := json.Marshal(v)
			return append(append(b, out...), '\n')
		}
	}
	b = append(b, `{"active":`...)
	b = strconv.AppendBool(b, in.Active)
	str := func(name, v string) {
		if v != "" {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = appendJSONString(b, v)
		}
	}
	num := func(name string, v int64) {
		if v != 0 {
			b = append(b, `,"`...)
			b = append(b, name...)
			b = append(b, `":`...)
			b = strconv.AppendInt(b, v, 10)
		}
	}
	str("token_type", in.TokenType)
	str("scope", in.Scope)
	str("client_id", in.ClientID)
	str("username", in.Username)
	str("sub", in.Sub)
	num("exp", in.Exp)
	num("iat", in.Iat)
	str("iss", in.Iss)
	str("sid", in.Sid)
	return append(b, "}\n"...)
}

// appendJSONString appends valid UTF-8 s as a JSON string, escaped as
// encoding/json escapes it (quote, backslash, control characters, and <,
// >, & and U+2028/U+2029 for HTML safety).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// tokenTypeName is RFC 7662's token_type: the kind of token as the
// token endpoint issued it ("Bearer"), or refresh_token.
func tokenTypeName(t models.TokenType) string {
	if t == models.TokenTypeRefresh {
		return "refresh_token"
	}
	return "Bearer"
}
