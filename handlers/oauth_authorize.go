package handlers

import (
	"errors"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
	"github.com/latchkey/latchkey/views/auth"
)

// authzRequest is a validated authorization request (RFC 6749 §4.1.1).
type authzRequest struct {
	client        *models.Client
	redirectURI   string // the registered URI the answer goes to
	redirectGiven bool
	scope         string
	state         string
	challenge     string
	hidden        map[string]string
}

// pkceChallengeRE is RFC 7636 §4.2: an S256 challenge is 43 base64url
// characters.
var pkceChallengeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// parseAuthorize validates an authorization request. Problems with the
// client or redirect URI must not redirect (§4.1.2.1: the user is told,
// the unverified URI is never followed): they come back as pageErr. Every
// other problem is redirected to the client as redirectErr.
func (h *Handler) parseAuthorize(c echo.Context, params url.Values) (req *authzRequest, redirectErr *OAuthError, pageErr error) {
	params = maps.Clone(params) // echo's cached query, or the consent form's
	dropEmpty(params)
	for _, k := range []string{"client_id", "redirect_uri"} {
		if len(params[k]) > 1 {
			return nil, nil, echo.NewHTTPError(http.StatusBadRequest, "The authorization request gives "+k+" more than once.")
		}
	}
	clientID := params.Get("client_id")
	if clientID == "" {
		return nil, nil, echo.NewHTTPError(http.StatusBadRequest, "The authorization request has no client_id.")
	}
	client, err := h.store.ClientByClientID(c.Request().Context(), clientID)
	if errors.Is(err, models.ErrNotFound) || (err == nil && client.DisabledAt != nil) {
		return nil, nil, echo.NewHTTPError(http.StatusBadRequest, "The application asking for authorization is not registered here.")
	}
	if err != nil {
		return nil, nil, err
	}
	req = &authzRequest{client: client, hidden: map[string]string{}}
	registered := client.RedirectURIList()
	if raw, given := params["redirect_uri"]; given {
		// §3.1.2.3: compared as exact strings, no normalisation, but for
		// a loopback IP's port (RFC 8252 §7.3).
		if !models.RedirectURIMatches(registered, raw[0]) {
			return nil, nil, echo.NewHTTPError(http.StatusBadRequest, "The redirect_uri does not match any URI registered for this application.")
		}
		req.redirectURI, req.redirectGiven = raw[0], true
		req.hidden["redirect_uri"] = raw[0]
	} else {
		if len(registered) != 1 {
			return nil, nil, echo.NewHTTPError(http.StatusBadRequest, "The authorization request must include redirect_uri.")
		}
		req.redirectURI = registered[0]
	}
	// Registration refuses javascript:, data: and the like, but a row
	// written before that check (or by hand) may still hold one: never send
	// a browser there, not even with an error.
	if models.ValidateRedirectURI(req.redirectURI) != nil {
		return nil, nil, echo.NewHTTPError(http.StatusBadRequest, "The redirect URI registered for this application is not allowed; an administrator must change it.")
	}
	// From here on, errors go back to the client's redirect URI.
	req.state = params.Get("state")
	if len(params["state"]) == 1 {
		req.hidden["state"] = req.state
	}
	if name, dup := duplicated(params); dup {
		return req, ErrInvalidRequest.WithDescription("parameter " + safeName(name) + " is given more than once"), nil
	}
	req.hidden["client_id"] = clientID
	switch rt := params.Get("response_type"); {
	case rt == "":
		return req, ErrInvalidRequest.WithDescription("response_type is required"), nil
	case rt != "code":
		return req, ErrUnsupportedResponseType.WithDescription("only response_type=code is supported"), nil
	}
	req.hidden["response_type"] = "code"
	if !client.Allows(models.GrantAuthorizationCode) {
		return req, ErrUnauthorizedClient.WithDescription("this client is not registered for the authorization code grant"), nil
	}
	scope, err := models.ResolveScope(params.Get("scope"), client.Scope)
	if err != nil {
		return req, ErrInvalidScope.WithDescription("the requested scope is not allowed for this client"), nil
	}
	req.scope = scope
	if _, ok := params["scope"]; ok {
		req.hidden["scope"] = params.Get("scope")
	}
	challenge, method := params.Get("code_challenge"), params.Get("code_challenge_method")
	switch {
	case challenge == "" && method != "":
		return req, ErrInvalidRequest.WithDescription("code_challenge_method without code_challenge"), nil
	case challenge == "" && client.IsPublic():
		return req, ErrInvalidRequest.WithDescription("public clients must use PKCE (code_challenge with code_challenge_method=S256)"), nil
	case challenge != "" && method != "S256":
		// RFC 7636 §4.3 makes "plain" the default; we accept only S256.
		return req, ErrInvalidRequest.WithDescription("code_challenge_method must be S256"), nil
	case challenge != "" && !pkceChallengeRE.MatchString(challenge):
		return req, ErrInvalidRequest.WithDescription("code_challenge must be 43 base64url characters (S256)"), nil
	}
	if challenge != "" {
		req.challenge = challenge
		req.hidden["code_challenge"], req.hidden["code_challenge_method"] = challenge, method
	}
	return req, nil, nil
}

// ShowAuthorize is GET /o/authorize/: validate, then ask the logged-in user
// for consent.
func (h *Handler) ShowAuthorize(c echo.Context) error {
	req, redirErr, pageErr := h.parseAuthorize(c, c.QueryParams())
	if pageErr != nil {
		return pageErr
	}
	if redirErr != nil {
		return h.redirectError(c, req, redirErr)
	}
	u := UserFrom(c)
	if u == nil {
		return c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
	}
	keys := make([]string, 0, len(req.hidden))
	for k := range req.hidden {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	shown := req.redirectURI
	if ru, err := url.Parse(req.redirectURI); err == nil && ru.Host != "" {
		shown = ru.Scheme + "://" + ru.Host
	}
	return render(c, 200, auth.ConsentPage(auth.ConsentProps{
		Page: page(c, "Authorize "+req.client.Name, ""), ClientName: req.client.Name,
		Scopes: strings.Fields(req.scope), RedirectTo: shown, Hidden: req.hidden, HiddenKeys: keys,
	}))
}

// DecideAuthorize is POST /o/authorize/: the consent form's answer.
func (h *Handler) DecideAuthorize(c echo.Context) error {
	params, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "The form could not be read.")
	}
	decision := params.Get("decision")
	params.Del("decision")
	params.Del(CSRFContextKey)
	u := UserFrom(c)
	if u == nil {
		return echo.NewHTTPError(http.StatusUnauthorized, "Log in first.")
	}
	req, redirErr, pageErr := h.parseAuthorize(c, params)
	if pageErr != nil {
		return pageErr
	}
	if redirErr != nil {
		return h.redirectError(c, req, redirErr)
	}
	if decision != "allow" {
		return h.redirectError(c, req, ErrAccessDenied.WithDescription("the user denied the request"))
	}
	code, err := h.store.CreateCode(c.Request().Context(), models.NewCode{
		Client: req.client, UserID: u.ID, RedirectURI: req.redirectURI, RedirectURIGiven: req.redirectGiven,
		Scope: req.scope, CodeChallenge: req.challenge, TTL: h.cfg.TTLs.Code,
	})
	if err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, h.redirectTo(req, url.Values{"code": {code}}))
}

// redirectError sends an error to the client (RFC 6749 §4.1.2.1).
func (h *Handler) redirectError(c echo.Context, req *authzRequest, e *OAuthError) error {
	v := url.Values{"error": {e.Code}}
	if e.Description != "" {
		v.Set("error_description", e.Description)
	}
	return c.Redirect(http.StatusSeeOther, h.redirectTo(req, v))
}

// redirectTo adds v, state and iss (RFC 9207) to the redirect URI, keeping
// any query it already has (§3.1.2).
func (h *Handler) redirectTo(req *authzRequest, v url.Values) string {
	if req.state != "" {
		v.Set("state", req.state)
	}
	v.Set("iss", h.cfg.Issuer)
	u, _ := url.Parse(req.redirectURI) // validated at registration
	q := u.Query()
	for k, vals := range v {
		q[k] = vals
	}
	u.RawQuery = q.Encode()
	return u.String()
}
