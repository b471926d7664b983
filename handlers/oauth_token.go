package handlers

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/internal/jsonenc"
	"github.com/latchkey/latchkey/models"
)

// ErrTooManyAttempts answers a password grant refused by the login
// throttle: 429 with Retry-After (RFC 6585 §4). RFC 6749 §5.2 has no code
// for it; temporarily_unavailable (§4.1.2.1, registered in §11.4) says
// what happened — retry later — where invalid_grant would tell the client
// the password was wrong, and it may not have been.
var ErrTooManyAttempts = &OAuthError{Code: "temporarily_unavailable", Status: 429}

// tokenResponse is RFC 6749 §5.1's successful response.
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope"`
}

// IssueToken is the token endpoint, POST /o/token/ (RFC 6749 §3.2). The
// client authenticates first; then grant_type picks the grant.
func (h *Handler) IssueToken(c echo.Context) error {
	form, err := parseOAuthForm(c)
	if err != nil {
		return err
	}
	client, err := h.authenticateClient(c, form)
	if err != nil {
		return err
	}
	gt := models.GrantType(form.Get("grant_type"))
	switch {
	case gt == "":
		return ErrInvalidRequest.WithDescription("grant_type is required")
	case gt != models.GrantAuthorizationCode && gt != models.GrantRefreshToken && gt != models.GrantClientCredentials && gt != models.GrantPassword:
		return ErrUnsupportedGrantType.WithDescription("grant_type must be authorization_code, refresh_token, client_credentials or password")
	case !client.Allows(gt):
		return ErrUnauthorizedClient.WithDescription("this client is not registered for grant_type " + string(gt))
	}
	var iss *models.Issued
	switch gt {
	case models.GrantAuthorizationCode:
		iss, err = h.exchangeCode(c, client, form)
	case models.GrantRefreshToken:
		iss, err = h.refresh(c, client, form)
	case models.GrantClientCredentials:
		iss, err = h.clientCredentials(c, client, form)
	case models.GrantPassword:
		iss, err = h.password(c, client, form)
	}
	if err != nil {
		return mapModelError(err)
	}
	out := tokenResponse{
		AccessToken: iss.AccessToken, TokenType: "Bearer", ExpiresIn: int64(iss.ExpiresIn.Seconds()),
		RefreshToken: iss.RefreshToken, Scope: iss.Scope,
	}
	return writePooledJSON(c, 200, out.appendJSON)
}

// appendJSON appends the answer as encoding/json would write it (see
// introspection.appendJSON).
func (t *tokenResponse) appendJSON(b []byte) []byte {
	b = append(b, `{"access_token":`...)
	b = jsonenc.AppendString(b, t.AccessToken)
	b = append(b, `,"token_type":`...)
	b = jsonenc.AppendString(b, t.TokenType)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, t.ExpiresIn, 10)
	if t.RefreshToken != "" {
		b = append(b, `,"refresh_token":`...)
		b = jsonenc.AppendString(b, t.RefreshToken)
	}
	b = append(b, `,"scope":`...)
	b = jsonenc.AppendString(b, t.Scope)
	return append(b, "}\n"...)
}

// exchangeCode is RFC 6749 §4.1.3 with RFC 7636 §4.5.
func (h *Handler) exchangeCode(c echo.Context, client *models.Client, form url.Values) (*models.Issued, error) {
	code := form.Get("code")
	if code == "" {
		return nil, ErrInvalidRequest.WithDescription("code is required")
	}
	_, redirectGiven := form["redirect_uri"]
	return h.store.ExchangeCode(c.Request().Context(), models.ExchangeCode{
		Client: client, Code: code, RedirectURI: form.Get("redirect_uri"), RedirectURIGiven: redirectGiven,
		CodeVerifier: form.Get("code_verifier"), TTLs: h.cfg.TTLs, Remote: remote(c), UserAgent: userAgent(c), RequestID: requestID(c),
	})
}

// refresh is RFC 6749 §6, with rotation.
func (h *Handler) refresh(c echo.Context, client *models.Client, form url.Values) (*models.Issued, error) {
	rt := form.Get("refresh_token")
	if rt == "" {
		return nil, ErrInvalidRequest.WithDescription("refresh_token is required")
	}
	return h.store.Refresh(c.Request().Context(), models.RefreshGrant{
		Client: client, RefreshToken: rt, Scope: form.Get("scope"), TTLs: h.cfg.TTLs,
		Remote: remote(c), UserAgent: userAgent(c), RequestID: requestID(c),
	})
}

// clientCredentials is RFC 6749 §4.4. No refresh token (§4.4.3).
func (h *Handler) clientCredentials(c echo.Context, client *models.Client, form url.Values) (*models.Issued, error) {
	if client.IsPublic() {
		return nil, ErrUnauthorizedClient.WithDescription("public clients cannot use client_credentials")
	}
	scope, err := models.ResolveScope(form.Get("scope"), client.Scope)
	if err != nil {
		return nil, err
	}
	return h.store.IssueGrant(c.Request().Context(), models.StartGrant{
		Client: client, GrantType: models.GrantClientCredentials, Scope: scope, TTLs: h.cfg.TTLs, Seen: seen(c),
	})
}

// password is RFC 6749 §4.3, for clients registered with it.
func (h *Handler) password(c echo.Context, client *models.Client, form url.Values) (*models.Issued, error) {
	username, pw := form.Get("username"), form.Get("password")
	if username == "" || pw == "" {
		return nil, ErrInvalidRequest.WithDescription("username and password are required")
	}
	scope, err := models.ResolveScope(form.Get("scope"), client.Scope)
	if err != nil {
		return nil, err
	}
	u, err := h.checkPassword(c, username, pw, "password grant")
	var te *throttledError
	switch {
	case errors.As(err, &te):
		te.setRetryAfter(c)
		return nil, ErrTooManyAttempts.WithDescription(fmt.Sprintf("too many failed logins for this user from this address; retry after %d seconds", te.retryAfter()))
	case errors.Is(err, models.ErrBadLogin):
		return nil, ErrInvalidGrant.WithDescription("wrong username or password")
	case errBusy(err):
		return nil, ErrTemporarilyUnavailable.WithDescription("the server is busy checking passwords; retry later").Wrap(err)
	case err != nil:
		return nil, err
	}
	return h.store.IssueGrant(c.Request().Context(), models.StartGrant{
		Client: client, UserID: u.ID, GrantType: models.GrantPassword, Scope: scope,
		WithRefresh: client.Allows(models.GrantRefreshToken), TTLs: h.cfg.TTLs, Seen: seen(c),
	})
}

// mapModelError turns a models error into the RFC error a client sees.
// Anything unrecognised is the database failing: 503, never 200 or 500.
func mapModelError(err error) error {
	var oe *OAuthError
	switch {
	case errors.As(err, &oe):
		return oe
	case errors.Is(err, models.ErrInvalidScope):
		return ErrInvalidScope.WithDescription("the requested scope is not allowed for this client or grant").Wrap(err)
	case errors.Is(err, models.ErrInvalidGrant):
		return ErrInvalidGrant.WithDescription("the code or refresh token is invalid, expired, revoked, already used, or was issued to another client or redirect URI").Wrap(err)
	case errors.Is(err, models.ErrNotTokenOwner):
		return ErrUnauthorizedClient.WithDescription("the token was issued to another client").Wrap(err)
	case errors.Is(err, models.ErrInvalid):
		return ErrInvalidRequest.WithDescription("the request is invalid").Wrap(err)
	}
	return ErrTemporarilyUnavailable.Wrap(err)
}
