package guard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Defaults for the zero values of Config.
const (
	DefaultStaleAfter  = 30 * time.Second
	DefaultMaxEntries  = 100_000
	DefaultPollTimeout = 60 * time.Second
	DefaultRealm       = "latchkey"
)

// Config says which Latchkey to ask and how.
type Config struct {
	// Issuer is Latchkey's issuer URL (RFC 8414), e.g. https://auth.example.com.
	Issuer string
	// ClientID and ClientSecret are those of a client created with
	// `--introspect --ssf`.
	ClientID, ClientSecret string
	// HTTPClient is used for every call to Latchkey; if nil, a client
	// whose every call ends within DefaultHTTPTimeout.
	HTTPClient *http.Client
	// Realm is the RFC 6750 realm in WWW-Authenticate challenges.
	Realm string
	// StaleAfter is how long the cache stays trusted without proof that
	// the event stream is live (see the package doc). Default 30 s.
	StaleAfter time.Duration
	// PollTimeout bounds one long poll; it must exceed how long the
	// transmitter holds a poll (Latchkey: about 25 s). Default 60 s.
	PollTimeout time.Duration
	// MaxEntries bounds the cache. Default 100 000.
	MaxEntries int
	// StreamDescription names this guard's stream on Latchkey's dashboard.
	// A stream of this client with the same description left over from an
	// earlier run (a crash) is deleted at start, so give each running
	// instance its own. Default "latchkey guard on <hostname>".
	StreamDescription string
	// PushURL, if set, makes the stream a push stream (RFC 8935) delivering
	// to this public URL, where the caller must mount PushHandler. Without
	// it the guard polls (RFC 8936).
	PushURL string
	// Logger gets the guard's operational log; nothing is logged if nil.
	// Tokens are never logged.
	Logger *slog.Logger
}

// Guard checks bearer tokens against Latchkey and keeps a cache that
// revocation events invalidate. Create one with New, start its event stream
// with Run, and wrap handlers with Middleware.
type Guard struct {
	cfg   Config
	hc    *http.Client
	log   *slog.Logger
	cache *cache
	now   func() time.Time

	metaMu sync.Mutex
	meta   atomic.Pointer[metadata]

	ev events
	sf singleflight.Group

	introspections atomic.Int64
}

// metadata is what the guard needs from RFC 8414 and SSF 1.0 discovery.
type metadata struct {
	TokenEndpoint         string
	IntrospectionEndpoint string
	SSF                   ssfConfiguration
}

// New checks cfg and returns a Guard. It does no network I/O: discovery
// happens on the first request or in Run.
func New(cfg Config) (*Guard, error) {
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || (iss.Scheme != "http" && iss.Scheme != "https") || iss.Host == "" {
		return nil, errors.New("guard: the issuer must be an http or https URL")
	}
	// In the normal form `latchkey serve` publishes (RFC 3986 §6.2.2.1:
	// scheme and host in lower case), so that "HTTPS://Auth.Example.com",
	// the spelling given to both, still matches the metadata's issuer.
	iss.Host = strings.ToLower(iss.Host)
	cfg.Issuer = strings.TrimRight(iss.String(), "/")
	if cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("guard: a client id and secret (of a client created with --introspect --ssf) are required")
	}
	if cfg.PushURL != "" {
		if u, err := url.Parse(cfg.PushURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, errors.New("guard: the push URL must be an http or https URL")
		}
	}
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = DefaultStaleAfter
	}
	if cfg.PollTimeout <= 0 {
		cfg.PollTimeout = DefaultPollTimeout
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	if cfg.StreamDescription == "" {
		host, _ := os.Hostname()
		cfg.StreamDescription = "latchkey guard on " + host
	}
	hc := cfg.HTTPClient
	if hc == nil {
		// Never http.DefaultClient, which waits for ever: a Latchkey that
		// hangs must not hang the guard's subscription or its lookups.
		hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Guard{cfg: cfg, hc: hc, log: log, cache: newCache(cfg.MaxEntries), now: time.Now}
	return g, nil
}

// Introspections reports how many introspection calls the guard has made.
func (g *Guard) Introspections() int64 { return g.introspections.Load() }

// CachedEntries reports how many active answers are cached.
func (g *Guard) CachedEntries() int { return g.cache.len() }

// discover returns Latchkey's metadata, fetching it once. A failure is
// not remembered, so the next call tries again.
func (g *Guard) discover(ctx context.Context) (*metadata, error) {
	if m := g.meta.Load(); m != nil {
		return m, nil
	}
	g.metaMu.Lock()
	defer g.metaMu.Unlock()
	if m := g.meta.Load(); m != nil {
		return m, nil
	}
	var as struct {
		Issuer                string `json:"issuer"`
		TokenEndpoint         string `json:"token_endpoint"`
		IntrospectionEndpoint string `json:"introspection_endpoint"`
	}
	if err := g.getJSON(ctx, g.hc, wellKnown(g.cfg.Issuer, "oauth-authorization-server"), &as); err != nil {
		return nil, err
	}
	// RFC 8414 §3.3: the metadata's issuer must be the one asked for.
	if strings.TrimRight(as.Issuer, "/") != g.cfg.Issuer || as.TokenEndpoint == "" || as.IntrospectionEndpoint == "" {
		return nil, fmt.Errorf("guard: authorization server metadata: issuer %q, want %q, with token and introspection endpoints", as.Issuer, g.cfg.Issuer)
	}
	var ssf ssfConfiguration
	if err := g.getJSON(ctx, g.hc, wellKnown(g.cfg.Issuer, "ssf-configuration"), &ssf); err != nil {
		return nil, err
	}
	if strings.TrimRight(ssf.Issuer, "/") != g.cfg.Issuer || ssf.JWKSURI == "" || ssf.ConfigurationEndpoint == "" {
		return nil, fmt.Errorf("guard: ssf configuration: issuer %q, want %q, with jwks_uri and configuration_endpoint", ssf.Issuer, g.cfg.Issuer)
	}
	m := &metadata{TokenEndpoint: as.TokenEndpoint, IntrospectionEndpoint: as.IntrospectionEndpoint, SSF: ssf}
	g.meta.Store(m)
	return m, nil
}

// DefaultHTTPTimeout bounds each call to Latchkey when Config.HTTPClient is
// nil: longer than a long poll (Latchkey holds one for up to 25 s), short
// enough that a hung server is noticed.
const DefaultHTTPTimeout = 60 * time.Second

// wellKnown is the metadata URL of issuer (RFC 8414 §3; SSF 1.0 does the
// same): the well-known segment goes between the host and the issuer's
// path, so https://a.example/tenant1 has its metadata at
// https://a.example/.well-known/NAME/tenant1.
func wellKnown(issuer, name string) string {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return strings.TrimRight(issuer, "/") + "/.well-known/" + name
	}
	u.Path = "/.well-known/" + name + strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String()
}

// getJSON GETs url with hc and decodes a 200 JSON answer into v.
func (g *Guard) getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("guard: GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("guard: GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return fmt.Errorf("guard: GET %s: %w", url, err)
	}
	return nil
}
