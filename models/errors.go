package models

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Every error the models package makes itself is either one of the
// sentinels below (possibly wrapped with fmt.Errorf("%w: …")) or a
// *ValidationError. Both carry the unexported marker method modelsError, so
// wrapWrite can tell "the operation refused" from "the database failed"
// with one errors.As and no list of known errors to keep up to date: a new
// sentinel is covered by being declared with sentinel().

// Sentinel errors shared by the models operations. Callers test them with
// errors.Is; the wrapped text after the sentinel says which case it was, for
// the log.
var (
	// ErrNotFound: the user, client, token, grant, session or setup link
	// does not exist (or is no longer usable).
	ErrNotFound = sentinel("models: not found")
	// ErrInvalid: the input breaks a rule. Every *ValidationError matches it.
	ErrInvalid = sentinel("models: invalid")
	// ErrAlreadyExists: a user or client of that name exists, or the demo
	// data cannot be seeded into a database that already has data.
	ErrAlreadyExists = sentinel("models: already exists")
	// ErrBadLogin: a wrong username or password, or a disabled user; the
	// three are not told apart.
	ErrBadLogin = sentinel("models: wrong username or password")
	// ErrUnavailable wraps every failure to reach or write the database, so
	// that callers can answer 503 rather than guess.
	ErrUnavailable = sentinel("models: database unavailable")
	// ErrInvalidGrant is RFC 6749 §5.2's invalid_grant: a code or refresh
	// token that is unknown, expired, used, revoked, or bound to another
	// client or redirect URI. Its wrapped text says which, for the log only.
	ErrInvalidGrant = sentinel("models: invalid grant")
	// ErrNotTokenOwner is returned when a client asks to revoke a token
	// issued to another client (RFC 7009 §2.1). The token stays valid; the
	// attempt is audited, because it means the token leaked.
	ErrNotTokenOwner = sentinel("models: token was issued to another client")

	// ErrBusy is returned when a password check waited too long for the
	// hashing pool: the server is saturated with logins.
	ErrBusy = sentinel("models: too many password checks at once")

	// ErrPurgeBusy is returned by Purge when another purge — in this
	// process or, on PostgreSQL, in another replica — is running.
	ErrPurgeBusy = sentinel("models: skipped, another replica is purging")

	// ErrNotIntrospector is an active access token whose client may not
	// introspect other clients' tokens.
	ErrNotIntrospector = sentinel("models: the token's client may not introspect tokens")
	// ErrStreamHeld is a receiver changing the status of a stream that
	// staff paused or disabled (on the dashboard, or by disabling its
	// client): only staff may change it then.
	ErrStreamHeld = sentinel("models: the stream's status was set by staff")
	// ErrTooManyStreams is a receiver creating a stream beyond
	// MaxStreamsPerClient.
	ErrTooManyStreams = sentinel("models: too many streams")
	// ErrInvalidScope is returned when a request asks for a scope the client
	// or grant does not have (RFC 6749 §5.2 invalid_scope). It matches
	// ErrInvalid too.
	ErrInvalidScope = fmt.Errorf("%w: scope", ErrInvalid)
)

// ErrPasswordTooShort and ErrPasswordTooLong reject passwords that are weak
// or that bcrypt would silently truncate. They are validation errors of the
// password field, so they match ErrInvalid as well as themselves.
var (
	ErrPasswordTooShort error = &ValidationError{Field: "password", Message: "Password must be at least 8 characters."}
	ErrPasswordTooLong  error = &ValidationError{Field: "password", Message: "Password must be at most 72 bytes."}
)

// ValidationError says which input field breaks a rule and how to fix it.
// Message is a sentence meant for the person who filled in the form or
// typed the command; handlers show it as is. errors.Is(err, ErrInvalid)
// holds for every ValidationError.
type ValidationError struct {
	Field   string // the form field or flag, e.g. "username", "redirect_uris"
	Message string // e.g. "Username must be 1-150 letters, digits or . _ @ + -."
}

// invalid returns a *ValidationError for field with a formatted message.
func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

func (e *ValidationError) Error() string { return "models: " + e.Field + ": " + e.Message }

// Is makes every ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func (*ValidationError) modelsError() {}

// sentinelError is the type of the sentinels.
type sentinelError struct{ msg string }

func sentinel(msg string) error { return &sentinelError{msg} }

func (e *sentinelError) Error() string { return e.msg }
func (*sentinelError) modelsError()    {}

// fromModels reports whether err is, or wraps, an error the models package
// made: a sentinel or a *ValidationError.
func fromModels(err error) bool {
	var m interface{ modelsError() }
	return errors.As(err, &m)
}

// unavailable marks a failed read as a database problem.
func unavailable(op string, err error) error {
	if errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("models: %s: %w", op, err)
	}
	return fmt.Errorf("models: %s: %w: %w", op, ErrUnavailable, err)
}

// wrapWrite classifies the result of a write. A nil error stays nil. An
// error the operation itself decided on (anything from this package: a
// refusal, a validation error, or one already marked unavailable) and a
// cancelled or timed-out context pass through unchanged. Anything else came
// from the driver or the database and is marked ErrUnavailable, so the
// caller answers 503.
func wrapWrite(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case fromModels(err), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return unavailable(op, err)
}

// TooSoonError is a request refused because the same was made too
// recently; it may be made again after RetryAfter. It matches ErrInvalid.
type TooSoonError struct {
	What       string
	RetryAfter time.Duration
}

func (e *TooSoonError) Error() string {
	return fmt.Sprintf("models: %s too soon; retry in %s", e.What, e.RetryAfter)
}

// Is makes a *TooSoonError match ErrInvalid.
func (e *TooSoonError) Is(target error) bool { return target == ErrInvalid }
func (*TooSoonError) modelsError()           {}
