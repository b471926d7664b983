package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
)

// The SSF stream management errors. They are JSON like every machine
// endpoint's ({"error", "error_description"}); SSF 1.0 §8.1 fixes only
// their statuses.
var (
	// ErrInsufficientScope is RFC 6750 §3.1's answer to a valid token
	// whose client may not manage streams.
	ErrInsufficientScope = &OAuthError{Code: "insufficient_scope", Status: 403, Bearer: true}
	// ErrStreamNotFound is a stream that does not exist or is another
	// receiver's: the two are not told apart.
	ErrStreamNotFound = &OAuthError{Code: "not_found", Status: 404, Description: "no such stream"}
)

// authenticateReceiver authenticates an SSF receiver (SSF 1.0 §8.1,
// authorization scheme urn:ietf:rfc:6749): "Authorization: Bearer" with an
// active access token of an enabled client created with --ssf, typically
// from client_credentials. Without a token: 401 with the challenge alone
// (RFC 6750 §3.1); a bad token: 401 invalid_token; another client's: 403.
func (h *Handler) authenticateReceiver(c echo.Context) (*models.Client, error) {
	authz := c.Request().Header.Values(echo.HeaderAuthorization)
	if len(authz) == 0 {
		return nil, &OAuthError{Status: 401, Bearer: true, Description: "a bearer token of a client created with --ssf is required"}
	}
	scheme, tok, ok := strings.Cut(strings.TrimSpace(authz[0]), " ")
	tok = strings.TrimSpace(tok)
	if len(authz) > 1 || !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t,") {
		return nil, ErrInvalidRequest.WithDescription("send the token as Authorization: Bearer <token>").withBearer()
	}
	ctx := c.Request().Context()
	info, err := h.store.ActiveToken(ctx, tok)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return nil, ErrInvalidToken.WithDescription("the bearer token is invalid, expired or revoked")
	case err != nil:
		return nil, ErrTemporarilyUnavailable.Wrap(err)
	}
	if info.Token.Type != models.TokenTypeAccess {
		return nil, ErrInvalidToken.WithDescription("the bearer token is invalid, expired or revoked")
	}
	if info.Token.UserID != nil {
		// A token a user delegated to the client speaks for that user, not
		// for the receiver: streams are the client's own business.
		return nil, ErrInsufficientScope.WithDescription("manage streams with a client_credentials token of the receiver, not a user's token")
	}
	client, err := h.store.ClientByClientID(ctx, info.ClientID)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return nil, ErrInvalidToken.WithDescription("the bearer token is invalid, expired or revoked")
	case err != nil:
		return nil, ErrTemporarilyUnavailable.Wrap(err)
	}
	if !client.SSF || client.DisabledAt != nil {
		return nil, ErrInsufficientScope.WithDescription("the token's client may not manage event streams; create it with --ssf")
	}
	h.store.TouchGrant(info.Token.GrantID, seen(c)) // the receiver, with its own token
	return client, nil
}

// decodeJSON reads a JSON request body into v. A body that is not JSON,
// or JSON of the wrong shape, is 400 with what to fix; unknown members
// are ignored (SSF leaves room for extensions).
func decodeJSON(c echo.Context, v any) error {
	if ct := c.Request().Header.Get(echo.HeaderContentType); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			return ErrInvalidRequest.WithDescription("send the body as JSON (Content-Type: application/json)")
		}
	}
	dec := json.NewDecoder(c.Request().Body)
	if err := dec.Decode(v); err != nil {
		if bodyTooLarge(err) {
			return ErrRequestTooLarge
		}
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return ErrInvalidRequest.WithDescription(typeErr.Field + " has the wrong type")
		}
		return ErrInvalidRequest.WithDescription("the body is not a JSON object")
	}
	// Nothing but white space may follow the value. (dec.More is false
	// before a stray closing delimiter: "{...}]garbage" passed it.)
	if _, err := dec.Token(); err != io.EOF {
		if bodyTooLarge(err) {
			return ErrRequestTooLarge
		}
		return ErrInvalidRequest.WithDescription("the body holds something after its JSON value")
	}
	return nil
}

// bodyTooLarge reports whether err is the body limit's: net/http's, or
// echo's middleware's 413.
func bodyTooLarge(err error) bool {
	var maxErr *http.MaxBytesError
	var he *echo.HTTPError
	return errors.As(err, &maxErr) || (errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge)
}

// modelError maps what a stream operation returned.
func modelError(err error) error {
	var v *models.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, models.ErrStreamHeld):
		return &OAuthError{Code: "access_denied", Status: http.StatusForbidden,
			Description: "the stream was paused or disabled by the authorization server's staff; only they can change its status"}
	case errors.Is(err, models.ErrTooManyStreams):
		return &OAuthError{Code: "invalid_request", Status: http.StatusConflict,
			Description: fmt.Sprintf("a receiver may own at most %d streams; delete one first", models.MaxStreamsPerClient)}
	case errors.As(err, &v):
		return ErrInvalidRequest.WithDescription(v.Message)
	case errors.Is(err, models.ErrNotFound):
		return ErrStreamNotFound
	}
	return ErrTemporarilyUnavailable.Wrap(err)
}
