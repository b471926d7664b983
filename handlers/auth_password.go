package handlers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/latchkey/latchkey/models"
)

// throttledError is a password check the throttle refused before any hash
// was computed; Wait is how long the caller must wait.
type throttledError struct{ Wait time.Duration }

func (e *throttledError) Error() string {
	return fmt.Sprintf("handlers: too many failed logins; retry in %s", e.Wait)
}

// retryAfter is e.Wait in whole seconds, rounded up, for Retry-After.
func (e *throttledError) retryAfter() int { return max(1, int(math.Ceil(e.Wait.Seconds()))) }

// setRetryAfter sets the Retry-After header (RFC 9110 §10.2.3) from e.
func (e *throttledError) setRetryAfter(c echo.Context) {
	c.Response().Header().Set("Retry-After", strconv.Itoa(e.retryAfter()))
}

// errBusy reports that the password check could not run: the hashing pool
// stayed full, or the client gave up waiting.
func errBusy(err error) bool {
	return errors.Is(err, models.ErrBusy) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// checkPassword is the one door to a password check, for the login page and
// the password grant. The throttle is asked first, so that a refused guess
// costs no bcrypt; then the password is checked on the store's bounded
// hashing pool, and the outcome goes back to the throttle and, for a
// failure or a refusal, to the audit trail (coalesced there).
//
// The throttle's counters live in this process. With several replicas an
// attacker's budget is multiplied by their number, but each replica's
// back-off still grows exponentially; sharing the counters through the
// database would turn every wrong guess into a durable write, which is the
// load the throttle exists to shed.
//
// It returns the user, a *throttledError, models.ErrBadLogin, or the error
// that kept the check from running (models.ErrBusy, the database).
func (h *Handler) checkPassword(c echo.Context, username, password, via string) (*models.User, error) {
	ctx := c.Request().Context()
	username = models.FoldUsername(username) // Alice and alice are one account, one counter, one event
	attempt := models.LoginAttempt{Username: username, Remote: remote(c), RequestID: requestID(c), Via: via}
	at, wait := h.throttle.Begin(username, attempt.Remote)
	if at == nil {
		// Refused for the address as a whole: each guess may name a new
		// username, so the audit event is per address, not per username.
		attempt.AddressWide = h.throttle.AddressLimited(attempt.Remote)
		if err := h.store.RecordLoginThrottled(ctx, attempt); err != nil {
			return nil, err
		}
		hold(ctx, min(wait, h.cfg.ThrottleHold))
		return nil, &throttledError{Wait: wait}
	}
	u, err := h.store.Authenticate(ctx, username, password)
	switch {
	case err == nil:
		at.Succeed()
		return u, nil
	case errors.Is(err, models.ErrBadLogin):
		at.Fail()
		if err := h.store.RecordLoginFailure(ctx, attempt); err != nil {
			return nil, err
		}
		return nil, err
	default:
		at.Abandon()
		return nil, err
	}
}

// hold waits for d, or until ctx ends.
func hold(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// waitText says how long to wait, for people.
func waitText(seconds int) string {
	switch {
	case seconds < 2:
		return "a second"
	case seconds < 120:
		return strconv.Itoa(seconds) + " seconds"
	default:
		return strconv.Itoa((seconds+59)/60) + " minutes"
	}
}
