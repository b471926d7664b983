package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	"github.com/latchkey/latchkey/guard"
	"github.com/spf13/cobra"
)

type guardOptions struct {
	issuer, upstream, listen string
	staleAfter               time.Duration
	stripAuthorization       bool
}

func (a *app) guardCommand() *cobra.Command {
	o := guardOptions{}
	cmd := &cobra.Command{
		Use:   "guard --issuer URL --upstream URL [--listen 127.0.0.1:8001]",
		Short: "Run a reverse proxy that lets only active Latchkey tokens through",
		Long: `Run a reverse proxy in front of an API until SIGINT or SIGTERM.

A request whose Authorization: Bearer token Latchkey says is active goes on to
--upstream with the headers X-Latchkey-User, X-Latchkey-Client and
X-Latchkey-Scope (any X-Latchkey-* header the client sent is removed first);
any other request gets 401 with an RFC 6750 challenge, or 503 if Latchkey
cannot be reached (the guard fails closed).

Answers are cached until the token expires and dropped within a second when
Latchkey revokes the token: the guard polls Latchkey's revocation events
(Shared Signals Framework, RFC 8936). After --stale-after without a live event
stream it stops trusting its cache and asks Latchkey on every request until the
stream is back.

It authenticates as a client created with --introspect --ssf, whose id and
secret come from LATCHKEY_GUARD_CLIENT_ID and LATCHKEY_GUARD_CLIENT_SECRET.
The Authorization header is passed upstream unless --strip-authorization.`,
		Args: noArgs,
		// The guard has no database: skip the root's --db check.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		PreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.flagsFromEnv(cmd.Flags(), [][2]string{
				{"issuer", "LATCHKEY_GUARD_ISSUER"},
				{"upstream", "LATCHKEY_GUARD_UPSTREAM"},
				{"listen", "LATCHKEY_GUARD_LISTEN"},
			})
		},
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			if o.issuer == "" || o.upstream == "" {
				return usagef("--issuer and --upstream are required")
			}
			iss, err := parseIssuer(o.issuer)
			if err != nil {
				return err
			}
			up, err := url.Parse(o.upstream)
			if err != nil || (up.Scheme != "http" && up.Scheme != "https") || up.Host == "" {
				return usagef("--upstream must be an http or https URL, like http://127.0.0.1:9000")
			}
			if _, _, err := net.SplitHostPort(o.listen); err != nil {
				return usagef("--listen %q must be host:port, like 127.0.0.1:8001", o.listen)
			}
			if o.staleAfter <= 0 {
				return usagef("--stale-after must be positive")
			}
			id, secret := a.getenv("LATCHKEY_GUARD_CLIENT_ID"), a.getenv("LATCHKEY_GUARD_CLIENT_SECRET")
			if id == "" || secret == "" {
				return usagef("set LATCHKEY_GUARD_CLIENT_ID and LATCHKEY_GUARD_CLIENT_SECRET to a client created with --introspect --ssf")
			}
			o.issuer = iss
			return a.runGuard(cmd.Context(), o, up, id, secret)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&o.issuer, "issuer", "", "Latchkey's issuer URL (env LATCHKEY_GUARD_ISSUER)")
	f.StringVar(&o.upstream, "upstream", "", "the API to protect, an http(s) URL (env LATCHKEY_GUARD_UPSTREAM)")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8001", "host:port to listen on (env LATCHKEY_GUARD_LISTEN)")
	f.DurationVar(&o.staleAfter, "stale-after", guard.DefaultStaleAfter, "stop trusting the cache after this long without a live event stream")
	f.BoolVar(&o.stripAuthorization, "strip-authorization", false, "do not pass the Authorization header upstream")
	return cmd
}

// runGuard serves the proxy until ctx ends.
func (a *app) runGuard(ctx context.Context, o guardOptions, upstream *url.URL, id, secret string) error {
	log := slog.New(slog.NewJSONHandler(a.stderr, nil))
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	g, err := guard.New(guard.Config{
		Issuer: o.issuer, ClientID: id, ClientSecret: secret, StaleAfter: o.staleAfter, Logger: log,
		// One stream per running guard: host and listening address.
		StreamDescription: fmt.Sprintf("latchkey guard on %s at %s", host, ln.Addr()),
	})
	if err != nil {
		ln.Close()
		return usageError{err}
	}
	srv := &http.Server{
		Handler:           g.Middleware(guardProxy(upstream, o.stripAuthorization, log)),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	evctx, stopEvents := context.WithCancel(ctx)
	events := make(chan struct{})
	go func() {
		defer close(events)
		_ = g.Run(evctx)
	}()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	fmt.Fprintf(a.stdout, "Latchkey guard listening on http://%s, protecting %s\n", ln.Addr(), upstream.Redacted())
	select {
	case err = <-served:
	case <-ctx.Done():
		c, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		err = srv.Shutdown(c)
	}
	stopEvents()
	<-events // deletes the guard's stream
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// guardProxy forwards a request the middleware let through to upstream,
// with the identity headers the guard vouches for and none the client
// forged. The Authorization header stays by default: the upstream may
// need the token (to call other APIs with it, or to check it itself),
// and it is behind the guard, on the trust side.
func guardProxy(upstream *url.URL, stripAuthorization bool, log *slog.Logger) http.Handler {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// The default keeps 2 idle connections per host: under concurrent
	// load a proxy would then open a new upstream connection for most
	// requests.
	tr.MaxIdleConnsPerHost = 256
	return &httputil.ReverseProxy{
		Transport: tr,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.SetXForwarded()
			info, _ := guard.InfoFrom(pr.In.Context())
			guard.SetIdentityHeaders(pr.Out.Header, info)
			if stripAuthorization {
				pr.Out.Header.Del("Authorization")
			}
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
