package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
)

// TestWrapWrite checks how a write's result is classified: nil stays nil
// (a logout used to answer 503 because it did not), the package's own
// errors pass through unchanged however they are wrapped, and only errors
// from elsewhere (the driver) become ErrUnavailable.
func TestWrapWrite(t *testing.T) {
	t.Parallel()
	own := []error{
		ErrNotFound, ErrInvalid, ErrAlreadyExists, ErrBadLogin, ErrUnavailable, ErrInvalidGrant,
		ErrNotTokenOwner, ErrPasswordTooShort, ErrPasswordTooLong, ErrInvalidScope,
		fmt.Errorf("%w: client 7", ErrNotFound),
		fmt.Errorf("%w: %w", ErrInvalidScope, invalid("scope", "Bad.")),
		invalid("name", "Name is required."),
		context.Canceled, fmt.Errorf("wait: %w", context.DeadlineExceeded),
	}
	if err := wrapWrite("op", nil); err != nil {
		t.Fatalf("wrapWrite(nil) = %v, want nil", err)
	}
	for _, err := range own {
		if got := wrapWrite("op", err); got != err {
			t.Errorf("wrapWrite(%v) = %v, want it unchanged", err, got)
		}
	}
	for _, err := range []error{sql.ErrConnDone, errors.New("disk I/O error"), fmt.Errorf("models: write panicked: boom")} {
		got := wrapWrite("op", err)
		if !errors.Is(got, ErrUnavailable) || !errors.Is(got, err) {
			t.Errorf("wrapWrite(%v) = %v, want ErrUnavailable wrapping it", err, got)
		}
	}
}

// TestValidationError checks the error's text, that it matches ErrInvalid,
// and that errors.As finds it through wrapping.
func TestValidationError(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("models: create user: %w", invalid("username", "Username must be short."))
	if got, want := err.Error(), "models: create user: models: username: Username must be short."; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("a ValidationError does not match ErrInvalid")
	}
	var v *ValidationError
	if !errors.As(err, &v) || v.Field != "username" || v.Message != "Username must be short." {
		t.Errorf("errors.As: %+v", v)
	}
	if !errors.Is(ErrPasswordTooShort, ErrInvalid) || errors.Is(ErrPasswordTooShort, ErrPasswordTooLong) {
		t.Error("password sentinels: want each to match ErrInvalid and only itself")
	}
	if errors.Is(ErrNotFound, ErrInvalid) || errors.Is(invalid("x", "y"), ErrNotFound) {
		t.Error("sentinels must not match each other")
	}
}
