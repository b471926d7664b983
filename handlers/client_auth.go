package handlers

import (
	"encoding/base64"
	"errors"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
)

// clientCredentials is what a request presented to identify its client.
type clientCredentials struct {
	ID          string
	Secret      string
	SecretGiven bool
	Basic       bool
}

// parseClientCredentials reads client authentication (RFC 6749 §2.3.1):
// client_secret_basic — HTTP Basic with the id and secret each
// form-urlencoded, scheme name case-insensitive — or client_secret_post, or
// a public client's bare client_id. Credentials in both places are
// invalid_request (§2.3: "MUST NOT use more than one authentication
// method").
func parseClientCredentials(c echo.Context, form url.Values) (clientCredentials, error) {
	h := c.Request().Header.Values(echo.HeaderAuthorization)
	_, bodySecret := form["client_secret"]
	bodyID := form.Get("client_id")
	if len(h) == 0 {
		if bodyID == "" {
			return clientCredentials{}, ErrInvalidClient.WithDescription("client authentication is required (HTTP Basic, or client_id in the body)")
		}
		return clientCredentials{ID: bodyID, Secret: form.Get("client_secret"), SecretGiven: bodySecret}, nil
	}
	if len(h) > 1 {
		return clientCredentials{}, ErrInvalidRequest.WithDescription("Authorization header is given more than once")
	}
	scheme, payload, ok := strings.Cut(strings.TrimSpace(h[0]), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return clientCredentials{}, ErrInvalidClient.WithDescription("unsupported authentication scheme; use HTTP Basic or client_secret_post").viaBasic(true)
	}
	raw, err := decodeBasic(strings.TrimSpace(payload))
	if err != nil {
		return clientCredentials{}, ErrInvalidClient.WithDescription("malformed HTTP Basic credentials").viaBasic(true)
	}
	rawID, rawSecret, ok := strings.Cut(raw, ":")
	if !ok {
		return clientCredentials{}, ErrInvalidClient.WithDescription("malformed HTTP Basic credentials").viaBasic(true)
	}
	id, err1 := url.QueryUnescape(rawID)
	secret, err2 := url.QueryUnescape(rawSecret)
	if err1 != nil || err2 != nil || id == "" {
		return clientCredentials{}, ErrInvalidClient.WithDescription("malformed HTTP Basic credentials (id and secret must be form-urlencoded)").viaBasic(true)
	}
	if bodySecret {
		return clientCredentials{}, ErrInvalidRequest.WithDescription("client credentials are given both in the Authorization header and in the body; use one method")
	}
	if bodyID != "" && bodyID != id {
		return clientCredentials{}, ErrInvalidRequest.WithDescription("client_id in the body does not match the Authorization header")
	}
	// A public client using Basic sends "id:" with an empty secret; that is
	// no secret at all.
	return clientCredentials{ID: id, Secret: secret, SecretGiven: secret != "", Basic: true}, nil
}

// decodeBasic decodes HTTP Basic's base64 payload. A payload of ordinary
// size is decoded on the stack, so that the text is the one allocation.
func decodeBasic(payload string) (string, error) {
	var small [256]byte
	buf := small[:]
	if n := base64.StdEncoding.DecodedLen(len(payload)); n > len(buf) {
		buf = make([]byte, n)
	}
	n, err := base64.StdEncoding.Decode(buf, []byte(payload))
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// authenticateClient parses and checks client authentication.
func (h *Handler) authenticateClient(c echo.Context, form url.Values) (*models.Client, error) {
	cred, err := parseClientCredentials(c, form)
	if err != nil {
		return nil, err
	}
	client, err := h.store.AuthenticateClient(c.Request().Context(), cred.ID, cred.Secret, cred.SecretGiven)
	switch {
	case errors.Is(err, models.ErrBadLogin):
		return nil, ErrInvalidClient.WithDescription("client authentication failed").viaBasic(cred.Basic)
	case err != nil:
		return nil, ErrTemporarilyUnavailable.Wrap(err)
	}
	return client, nil
}

// authenticateIntrospector authenticates a caller of the introspection
// endpoint: as a client (authenticateClient) or, as RFC 7662 §2.1 allows,
// with "Authorization: Bearer" and an access token of a resource server's
// own (a client created with --introspect), which is how
// django-oauth-toolkit's RESOURCE_SERVER_AUTH_TOKEN authenticates. It
// returns the caller and, for a bearer caller, the grant of the token it
// presented.
//
// A bearer token that is unknown, expired, revoked or not a resource
// server's answers 401 invalid_token with a Bearer challenge: RFC 7662 §2.3
// sends a caller that "uses an OAuth 2.0 bearer token to authorize its
// call" that is "otherwise invalid for this request" to RFC 6750 §3, not to
// the invalid_client of client authentication, which it never attempted.
func (h *Handler) authenticateIntrospector(c echo.Context, form url.Values) (*models.Client, int64, error) {
	authz := c.Request().Header.Values(echo.HeaderAuthorization)
	scheme, tok, _ := strings.Cut(strings.TrimSpace(strings.Join(authz, "")), " ")
	if len(authz) != 1 || !strings.EqualFold(scheme, "Bearer") {
		// No header, Basic, or the header twice (Basic and Bearer
		// together are invalid_request there).
		client, err := h.authenticateClient(c, form)
		return client, 0, err
	}
	tok = strings.TrimSpace(tok)
	if form.Has("client_id") || form.Has("client_secret") {
		// RFC 6749 §2.3: one authentication method per request.
		return nil, 0, ErrInvalidRequest.WithDescription("send either a bearer token or client credentials, not both")
	}
	if tok == "" || strings.ContainsAny(tok, " \t,") {
		return nil, 0, ErrInvalidRequest.WithDescription("send the token as Authorization: Bearer <token>").withBearer()
	}
	client, info, err := h.store.IntrospectorByAccessToken(c.Request().Context(), tok)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return nil, 0, ErrInvalidToken.WithDescription("the bearer token is invalid, expired or revoked")
	case errors.Is(err, models.ErrNotIntrospector):
		return nil, 0, ErrInvalidToken.WithDescription("the bearer token's client may not introspect tokens; create it with --introspect")
	case err != nil:
		return nil, 0, ErrTemporarilyUnavailable.Wrap(err)
	}
	return client, info.Token.GrantID, nil
}
