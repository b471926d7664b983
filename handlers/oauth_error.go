package handlers

import (
	"encoding/json"
	"errors"
	"log/slog"
)

// OAuthError is an RFC 6749 §5.2 error response (RFC 7009 §2.2.1 adds
// unsupported_token_type, RFC 6750 §3.1 invalid_token). The HTTP status
// travels with the value, so no writer can fall through to 200.
type OAuthError struct {
	Code        string // exact RFC name: "invalid_client"
	Description string
	Status      int
	// Basic is set when client authentication was attempted with HTTP
	// Basic, so a 401 carries WWW-Authenticate: Basic (RFC 6749 §5.2).
	Basic bool
	// Bearer is set on protected-resource errors (RFC 6750 §3).
	Bearer bool
	cause  error // logged with the request ID, never serialized
}

// The errors the endpoints return.
var (
	ErrInvalidRequest          = &OAuthError{Code: "invalid_request", Status: 400}
	ErrInvalidClient           = &OAuthError{Code: "invalid_client", Status: 401}
	ErrInvalidGrant            = &OAuthError{Code: "invalid_grant", Status: 400}
	ErrUnauthorizedClient      = &OAuthError{Code: "unauthorized_client", Status: 400}
	ErrUnsupportedGrantType    = &OAuthError{Code: "unsupported_grant_type", Status: 400}
	ErrInvalidScope            = &OAuthError{Code: "invalid_scope", Status: 400}
	ErrUnsupportedTokenType    = &OAuthError{Code: "unsupported_token_type", Status: 400}
	ErrInvalidToken            = &OAuthError{Code: "invalid_token", Status: 401, Bearer: true}
	ErrMethodNotAllowed        = &OAuthError{Code: "invalid_request", Status: 405, Description: "method not allowed"}
	ErrRequestTooLarge         = &OAuthError{Code: "invalid_request", Status: 413, Description: "request body is larger than 64 KiB (65,536 bytes)"}
	ErrTemporarilyUnavailable  = &OAuthError{Code: "temporarily_unavailable", Status: 503, Description: "the server cannot reach its database; retry later"}
	ErrServerError             = &OAuthError{Code: "server_error", Status: 500, Description: "internal error"}
	ErrAccessDenied            = &OAuthError{Code: "access_denied", Status: 403}
	ErrUnsupportedResponseType = &OAuthError{Code: "unsupported_response_type", Status: 400}
)

// Error implements error.
func (e *OAuthError) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// WithDescription returns a copy with a developer-facing description: what
// to fix, never a token, a secret or whether a token exists.
func (e *OAuthError) WithDescription(d string) *OAuthError {
	c := *e
	c.Description = d
	return &c
}

// Wrap returns a copy carrying cause, for the log.
func (e *OAuthError) Wrap(cause error) *OAuthError {
	c := *e
	c.cause = cause
	return &c
}

// viaBasic returns a copy marked as answering an HTTP Basic attempt.
func (e *OAuthError) viaBasic(basic bool) *OAuthError {
	c := *e
	c.Basic = basic
	return &c
}

// Is compares error codes, so errors.Is(err, ErrInvalidClient) holds for
// every copy.
func (e *OAuthError) Is(target error) bool {
	var t *OAuthError
	return errors.As(target, &t) && t.Code == e.Code && t.Status == e.Status
}

// Unwrap returns the cause.
func (e *OAuthError) Unwrap() error { return e.cause }

// LogValue is what a log line shows: the response fields and the cause.
// Without it slog would serialise the error through MarshalJSON, which
// holds only what the client may see, and a 503's cause would be lost.
// Causes are database and parsing errors, which carry no token or secret.
func (e *OAuthError) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("error", e.Code), slog.Int("status", e.Status)}
	if e.Description != "" {
		attrs = append(attrs, slog.String("description", e.Description))
	}
	if e.cause != nil {
		attrs = append(attrs, slog.String("cause", e.cause.Error()))
	}
	return slog.GroupValue(attrs...)
}

// MarshalJSON writes only RFC 6749 §5.2's fields.
func (e *OAuthError) MarshalJSON() ([]byte, error) {
	v := struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description}
	return json.Marshal(v)
}
