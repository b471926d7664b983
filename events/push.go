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

	"github.com/latchkey/latchkey/models"
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

// maxConcurrentStreams bounds the streams one worker delivers at once
// (models.Store.MaxConcurrentClaims is never more).
const maxConcurrentStreams = 8

// Pusher delivers SETs by RFC 8935 push.
//
// It sends each request with its transport's RoundTrip rather than an
// http.Client: a pusher follows no redirect, keeps no cookie and sets the
// timeout itself, so the client's per-request work (copying the headers
// for redirects, cloning the URL, wrapping the body for its timer) is all
// overhead, paid for every SET.
type Pusher struct {
	transport http.RoundTripper
	timeout   time.Duration
}

// NewPusher returns a pusher whose requests give up after timeout. It does
// not follow redirects (a redirect is an answer other than 202): RFC 8935 §2 expects the receiver's answer at the
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
		DialContext: d.DialContext,
		// Each stream being delivered pushes over one connection, one SET
		// after another, and up to maxConcurrentStreams streams are
		// delivered at once, possibly all to one receiver host: that many
		// idle connections per host are kept, so that no stream's
		// connection is closed after a push and dialled (and its TLS
		// handshake made) again for the next.
		MaxIdleConnsPerHost: maxConcurrentStreams,
		IdleConnTimeout:     90 * time.Second,
		// A SET answer is a 202 with no body: asking for gzip would only
		// add a header to every request.
		DisableCompression: true,
	}
	if allowPrivate {
		tr.Proxy = http.ProxyFromEnvironment
	} else {
		d.Control = refusePrivate
	}
	return &Pusher{transport: tr, timeout: timeout}
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
		cgnat.Contains(ip) || // RFC 6598 shared address space: the provider's network, not the internet
		thisNetwork.Contains(ip) // RFC 1122 §3.2.1.3: "this host on this network"; some systems connect it to themselves
}

var (
	cgnat       = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
)

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

// Endpoint is a push endpoint prepared for many pushes: its URL parsed
// and the request headers built once, so that each push only wraps its
// SET in a request.
type Endpoint struct {
	url    *url.URL
	header http.Header // read-only once built: shared by every request
}

// NewEndpoint prepares endpoint for pushes with authorization as the
// Authorization header (none when empty): RFC 8935 §2's Content-Type
// application/secevent+jwt and Accept application/json.
func NewEndpoint(endpoint, authorization string) (*Endpoint, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &PushError{Msg: "bad endpoint URL"}
	}
	h := http.Header{"Content-Type": {MediaType}, "Accept": {"application/json"}}
	if _, basic, ok := models.SplitEndpointCredentials(endpoint); ok && authorization == "" {
		// As http.Client does: credentials in the URL are sent as Basic
		// authentication (RFC 7617) when no Authorization is given.
		authorization = basic
	}
	if authorization != "" {
		h["Authorization"] = []string{authorization}
	}
	return &Endpoint{url: u, header: h}, nil
}

// Push POSTs set to endpoint (RFC 8935 §2) with authorization as the
// Authorization header when not empty; see PushTo.
func (p *Pusher) Push(ctx context.Context, endpoint, authorization, set string) error {
	ep, err := NewEndpoint(endpoint, authorization)
	if err != nil {
		return err
	}
	return p.PushTo(ctx, ep, set)
}

// PushTo POSTs set to ep (RFC 8935 §2). 202 Accepted is delivered (§2.2);
// anything else is a *PushError (§2.3: the receiver's error JSON, if any,
// is quoted in the message). The response is read to its end (up to
// 4 KiB), so that the connection is kept alive for the next push.
func (p *Pusher) PushTo(ctx context.Context, ep *Endpoint, set string) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	body := strings.NewReader(set)
	req := (&http.Request{
		Method:        http.MethodPost,
		URL:           ep.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        ep.header,
		Body:          io.NopCloser(body),
		ContentLength: int64(len(set)),
		// Lets the transport send the request again on a kept-alive
		// connection the receiver closed meanwhile.
		GetBody: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(set)), nil },
		Host:    ep.url.Host,
	}).WithContext(ctx)
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return &PushError{Msg: networkError(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil
	}
	body2, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	msg := fmt.Sprintf("receiver answered %d", resp.StatusCode)
	var e struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	}
	if json.Unmarshal(body2, &e) == nil && e.Err != "" {
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
