package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Backoff bounds for push retries: the first retry waits InitialBackoff,
// each next one twice as long, never more than MaxBackoff apart.
const (
	InitialBackoff = time.Second
	MaxBackoff     = 5 * time.Minute
)

// Backoff is how long to wait after the n-th failed attempt (n ≥ 1) to
// deliver the same SET, starting from initial and doubling up to
// MaxBackoff: 1 s, 2 s, 4 s … 256 s, then 300 s for good.
func Backoff(initial time.Duration, n int) time.Duration {
	if initial <= 0 {
		initial = InitialBackoff
	}
	d := initial
	for i := 1; i < n; i++ {
		d *= 2
		if d >= MaxBackoff {
			return MaxBackoff
		}
	}
	return min(d, MaxBackoff)
}

// PushError is a push the receiver did not accept: a network error, or an
// answer other than 202. Its message is safe to show staff: it never
// carries the SET or the stream's Authorization header.
type PushError struct {
	Status int    // 0 for a network error
	Msg    string // short, for the dashboard
}

func (e *PushError) Error() string { return e.Msg }

// Pusher delivers SETs by RFC 8935 push.
type Pusher struct {
	Client *http.Client
}

// NewPusher returns a pusher whose requests give up after timeout. It does
// not follow redirects: RFC 8935 §2 expects the receiver's answer at the
// endpoint URL itself, and following one would send the stream's
// Authorization header somewhere else.
func NewPusher(timeout time.Duration) *Pusher {
	return &Pusher{Client: &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		},
	}}
}

// Push POSTs set to endpoint (RFC 8935 §2): Content-Type
// application/secevent+jwt, Accept application/json, and authorization as
// the Authorization header when not empty. 202 Accepted is delivered (§2.2);
// anything else is a *PushError (§2.3: the receiver's error JSON, if any,
// is quoted in the message).
func (p *Pusher) Push(ctx context.Context, endpoint, authorization, set string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(set))
	if err != nil {
		return &PushError{Msg: "bad endpoint URL"}
	}
	req.Header.Set("Content-Type", MediaType)
	req.Header.Set("Accept", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := p.Client.Do(req)
	if err != nil {
		return &PushError{Msg: networkError(err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusAccepted {
		return nil
	}
	msg := fmt.Sprintf("receiver answered %d", resp.StatusCode)
	var e struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	}
	if json.Unmarshal(body, &e) == nil && e.Err != "" {
		msg += ": " + clip(e.Err+" "+e.Description, 200)
	}
	return &PushError{Status: resp.StatusCode, Msg: msg}
}

// networkError says what failed without the URL's query or the request.
func networkError(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "receiver timed out"
	case strings.Contains(err.Error(), "connection refused"):
		return "receiver refused the connection"
	case strings.Contains(err.Error(), "no such host"):
		return "receiver host not found"
	}
	return "receiver unreachable"
}

func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
