package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Backoff bounds for push retries: the first retry waits InitialBackoff,
// each next one twice as long, never more than MaxBackoff apart.
const (
	InitialBackoff = time.Second
	MaxBackoff     = 5 * time.Minute
)

// Recheck is how often the push worker and a held long poll look for
// events without being woken. A revocation made in this process wakes them
// at once (models.Store.EventsQueued); one made by another process — the
// command line, another replica on PostgreSQL — is seen within Recheck, so
// that a resource server hears of it well within a second. Each look is
// one indexed read.
const Recheck = 200 * time.Millisecond

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
//
// Unless allowPrivate is set, it connects only to public addresses: a
// receiver chooses the endpoint URL and the Authorization header, so
// without this check any --ssf client could make the server POST to its
// own loopback, the cloud metadata service or the private network. The
// check runs on the address actually dialled (net.Dialer.Control), after
// name resolution, so a name that resolves to a private address — at
// stream creation or only later (DNS rebinding) — is refused too. For the
// same reason no proxy from the environment is used then: the proxy would
// make the connection the check cannot see. allowPrivate is for
// development and tests (serve --push-allow-private).
func NewPusher(timeout time.Duration, allowPrivate bool) *Pusher {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	if allowPrivate {
		tr.Proxy = http.ProxyFromEnvironment
	} else {
		d.Control = refusePrivate
	}
	return &Pusher{Client: &http.Client{
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport:     tr,
	}}
}

// ErrPrivateAddress is a push endpoint whose address is loopback, private
// (RFC 1918, RFC 4193), link-local (the cloud metadata service among
// them), unspecified or multicast, refused unless private pushes are
// allowed.
var ErrPrivateAddress = errors.New("events: push endpoint resolves to a private address")

// PrivateAddress reports whether ip is one a push must not reach by default.
func PrivateAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() ||
		cgnat.Contains(ip) // RFC 6598 shared address space: the provider's network, not the internet
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// refusePrivate is the push dialer's Control: it sees the resolved
// address about to be connected to.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || PrivateAddress(ap.Addr()) {
		return ErrPrivateAddress
	}
	return nil
}

// CheckEndpoint says whether a receiver may register endpoint as a push
// endpoint: https (the stream's Authorization header and the SETs must not
// cross the network in the clear), and not an IP literal of a private
// address. A host name is checked when connecting (see NewPusher). With
// allowPrivate (development, tests) http and private addresses are
// accepted. The error is a sentence for the receiver.
func CheckEndpoint(endpoint string, allowPrivate bool) error {
	if allowPrivate {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return errors.New("delivery.endpoint_url must be an https URL")
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && PrivateAddress(ip) {
		return errors.New("delivery.endpoint_url must not be a loopback, private, link-local or multicast address")
	}
	return nil
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
	var dns *net.DNSError
	switch {
	case errors.Is(err, ErrPrivateAddress):
		return "refused: the endpoint resolves to a loopback, private, link-local or multicast address"
	case errors.As(err, &dns) && dns.IsNotFound:
		return "receiver host not found"
	case errors.As(err, &ne) && ne.Timeout():
		return "receiver timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "receiver refused the connection"
	case errors.As(err, &dns):
		return "receiver host could not be resolved"
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
